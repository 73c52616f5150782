package org.rlhf4j.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.reward.sampling.BestOfNSampler;

/**
 * Reward scoring of prompt/response rows and K-way rankings, and best-of-n generation, over Spark
 * datasets ({@code local[2,3]}), against the same computations in one process.
 */
class SparkScoringTest {
  private static SparkSession spark;
  private static TransformerRewardModel rm;
  private static final StructType PAIRS = new StructType().add("id", DataTypes.IntegerType)
      .add("prompt", DataTypes.StringType).add("response", DataTypes.StringType);
  private static final StructType RANKINGS = new StructType().add("prompt", DataTypes.StringType)
      .add("responses", DataTypes.createArrayType(DataTypes.StringType));

  @BeforeAll
  static void start() {
    spark = TestSpark.session();
    rm = TransformerRewardModel.fromPolicy(TestSpark.tinyModel(4), 9);
    rm.setNormalization(2.0, -0.5);
  }

  @AfterAll
  static void stop() {
    rm.close();
  }

  /** The in-process score of one prompt/response, alone in its batch. */
  private static double expected(String prompt, String response) {
    ByteTokenizer t = TestSpark.TOK;
    int[] head = t.encodePrompt(prompt, true);
    int[] resp = t.encode(response);
    int[] s = Arrays.copyOf(head, head.length + resp.length + 1);
    System.arraycopy(resp, 0, s, head.length, resp.length);
    s[s.length - 1] = t.eosId();
    return rm.score(TokenBatch.unpadded(new int[][] {s})).getDouble(0);
  }

  private static Dataset<Row> pairs() {
    List<Row> rows = new ArrayList<>();
    String[] prompts = {"ab", "hello", "x", "abc d", "spark"};
    String[] responses = {"cd", "world!", "y", "efg", "rdd and datasets"};
    for (int i = 0; i < prompts.length; i++) {
      rows.add(RowFactory.create(i, prompts[i], responses[i]));
    }
    return dataset(rows, PAIRS);
  }

  /** {@code rows} in 2 partitions, in order. */
  private static Dataset<Row> dataset(List<Row> rows, StructType schema) {
    return spark.createDataFrame(JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(rows, 2), schema);
  }

  @Test
  void scoresEachRowAsTheRewardModelDoes() {
    for (int batch : new int[] {1, 32}) {
      try (SparkRewardScorer scorer = SparkRewardScorer.builder(spark, rm, TestSpark.TOK).batchSize(batch).build()) {
        List<Row> out = scorer.score(pairs(), "prompt", "response").collectAsList();
        assertEquals(5, out.size());
        for (Row r : out) {
          double want = expected(r.getString(1), r.getString(2));
          double got = r.getDouble(3);
          if (batch == 1) {
            assertEquals(want, got, "row " + r.getInt(0)); // the same single-row batch: the same number
          } else {
            assertEquals(want, got, 1e-5 * Math.max(1, Math.abs(want)), "row " + r.getInt(0)); // padded batches
          }
        }
        assertEquals(List.of("id", "prompt", "response", "score"), Arrays.asList(
            scorer.score(pairs(), "prompt", "response").schema().fieldNames()));
      }
    }
  }

  @Test
  void rankingsGiveScoresAndPairwiseAccuracy() {
    List<List<String>> rankings = List.of(List.of("ab", "cd", "zz", "a"), List.of("hello", "world", "there", "!"),
        List.of("x", "y", "yy", "yyy"), List.of("spark", "rdd", "df"));
    List<Row> rows = new ArrayList<>();
    for (List<String> r : rankings) {
      rows.add(RowFactory.create(r.get(0), SparkRewardScorer.seq(new ArrayList<>(r.subList(1, r.size())))));
    }
    Dataset<Row> ds = dataset(rows, RANKINGS);
    long pairs = 0;
    long correct = 0;
    for (Row r : rows) {
      List<String> rs = r.getList(1);
      for (int i = 0; i < rs.size(); i++) {
        for (int j = i + 1; j < rs.size(); j++) {
          pairs++;
          double si = expected(r.getString(0), rs.get(i));
          double sj = expected(r.getString(0), rs.get(j));
          // A ranking's responses are scored as one padded batch, whose floats may differ from a
          // single row's in the last places (the BLAS kernels may sum in another order): no near ties.
          assertTrue(Math.abs(si - sj) > 1e-3, "a near tie would make the count depend on rounding: " + si + " " + sj);
          correct += si > sj ? 1 : 0;
        }
      }
    }
    try (SparkRewardScorer scorer = SparkRewardScorer.builder(spark, rm, TestSpark.TOK).batchSize(1).build()) {
      SparkRewardScorer.RankingAccuracy acc = scorer.rankingAccuracy(ds, "prompt", "responses");
      assertEquals(new SparkRewardScorer.RankingAccuracy(4, 10, correct, 0), acc);
      assertEquals(10, pairs);
      assertEquals((double) correct / 10, acc.accuracy());
      for (Row r : scorer.scoreRankings(ds, "prompt", "responses").collectAsList()) {
        List<String> rs = r.getList(1);
        List<Double> sc = r.getList(2);
        assertEquals(rs.size(), sc.size());
        for (int i = 0; i < rs.size(); i++) {
          double want = expected(r.getString(0), rs.get(i));
          assertEquals(want, sc.get(i), 1e-5 * Math.max(1, Math.abs(want)), "padded batch of the ranking's responses");
        }
      }
    }
  }

  @Test
  void badInputIsNamed() {
    try (SparkRewardScorer scorer = SparkRewardScorer.builder(spark, rm, TestSpark.TOK).build()) {
      assertTrue(assertThrows(IllegalArgumentException.class, () -> scorer.score(pairs(), "question", "response"))
          .getMessage().contains("no column \"question\" (its columns: [id, prompt, response])"));
      assertTrue(assertThrows(IllegalArgumentException.class, () -> scorer.score(pairs(), "id", "response"))
          .getMessage().contains("column \"id\" is int, expected STRING"));
      Dataset<Row> nulls = spark.createDataFrame(List.of(RowFactory.create(1, "ab", null)), PAIRS);
      SparkException e = assertThrows(SparkException.class, () -> scorer.score(nulls, "prompt", "response").collect());
      assertTrue(e.getMessage().contains("(prompt \"ab\"): response 0 is null"), e.getMessage());
      Dataset<Row> longRow = spark.createDataFrame(List.of(RowFactory.create(1, "ab", "x".repeat(40))), PAIRS);
      e = assertThrows(SparkException.class, () -> scorer.score(longRow, "prompt", "response").collect());
      assertTrue(e.getMessage().contains("response 0 with its prompt is 44 tokens, longer than the reward model's"
          + " context 32"), e.getMessage());
      Dataset<Row> single = spark.createDataFrame(List.of(RowFactory.create("ab", SparkRewardScorer.seq(new ArrayList<>(List.of("c"))))), RANKINGS);
      e = assertThrows(SparkException.class, () -> scorer.rankingAccuracy(single, "prompt", "responses"));
      assertTrue(e.getMessage().contains("a ranking needs at least 2 responses, got 1"), e.getMessage());
    }
    SparkRewardScorer closed = SparkRewardScorer.builder(spark, rm, TestSpark.TOK).build();
    closed.close();
    assertThrows(IllegalStateException.class, () -> closed.score(pairs(), "prompt", "response"));
    RlhfException big = assertThrows(RlhfException.class,
        () -> SparkRewardScorer.builder(spark, rm, TestSpark.TOK).maxBroadcastBytes(1000).build());
    assertTrue(big.getMessage().contains("the reward model is too large to broadcast"), big.getMessage());
  }

  @Test
  void bestOfNMatchesTheInProcessSamplerRowByRow() {
    List<String> prompts = List.of("ab", "hello", "x", "abc d", "spark");
    List<Row> rows = new ArrayList<>();
    for (String p : prompts) {
      rows.add(RowFactory.create(p));
    }
    Dataset<Row> ds = dataset(rows, new StructType().add("prompt", DataTypes.StringType));
    SamplingConfig sampling = SamplingConfig.builder().temperature(1.0).maxNewTokens(4)
        .stopTokens(TestSpark.TOK.eosId()).build();
    try (GptModel policy = TestSpark.tinyModel(3);
        SparkBestOfN bon = SparkBestOfN.builder(spark, policy, rm, TestSpark.TOK).n(3).seed(7).sampling(sampling)
            .build()) {
      Map<String, Row> byPrompt = new HashMap<>();
      assertEquals(2, ds.javaRDD().getNumPartitions());
      for (Row r : bon.generate(ds, "prompt").collectAsList()) {
        byPrompt.put(r.getString(0), r);
      }
      assertEquals(prompts.size(), byPrompt.size());
      BestOfNSampler local = BestOfNSampler.builder(policy, rm, TestSpark.TOK).sampling(sampling).build();
      List<Row> collected = ds.collectAsList();
      for (int i = 0; i < collected.size(); i++) {
        String p = collected.get(i).getString(0);
        BestOfNSampler.Candidates c = local.sample(List.of(p), 3, SparkBestOfN.rowSeed(7, i)).get(0);
        Row r = byPrompt.get(p);
        assertEquals(c.responses(), r.getList(3), p);
        assertEquals(c.best(), r.getString(1), p);
        assertEquals(c.scores()[c.bestOf(3)], r.getDouble(2), p);
        List<Double> scores = r.getList(4);
        for (int j = 0; j < 3; j++) {
          assertEquals(c.scores()[j], scores.get(j), p);
        }
      }
    }
  }
}
