package org.rlhf4j.spark;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.reward.sampling.BestOfNSampler;
import scala.Tuple2;

/**
 * Best-of-n generation over a Spark {@code Dataset} of prompts: on the executors, {@link
 * BestOfNSampler} draws {@code n} responses of each prompt from the policy and keeps the one the
 * reward model scores highest. The policy, the reward model and the tokenizer are broadcast once
 * when this is built, rebuilt once per executor and cached ({@link ExecutorModels}). Row {@code i} of
 * the dataset (in its order, as {@code zipWithIndex} numbers it) is sampled with the seed {@link
 * #rowSeed}{@code (seed, i)}, so a row's result does not depend on the partitioning: it equals
 * {@code sampler.sample(List.of(prompt), n, rowSeed(seed, i))} in one process.
 */
public final class SparkBestOfN implements AutoCloseable {
  /** The added columns. */
  public static final String BEST = "best_response";
  /** The best response's score. */
  public static final String BEST_SCORE = "best_score";
  /** All n responses, in sampling order. */
  public static final String RESPONSES = "responses";
  /** Their scores. */
  public static final String SCORES = "response_scores";

  private final SparkSession spark;
  private final FrozenModels models;
  private final Settings settings;
  private boolean closed;

  record Settings(int n, long seed, RolloutWire.Sampling sampling, int batchSize, boolean addBos)
      implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
  }

  private SparkBestOfN(Builder b) {
    this.spark = b.spark;
    this.models = FrozenModels.broadcast(JavaSparkContext.fromSparkContext(spark.sparkContext()), b.runId,
        b.rewardModel, b.policy, b.tokenizer, b.maxBroadcastBytes);
    SamplingConfig s = b.sampling != null ? b.sampling
        : SamplingConfig.builder().temperature(1.0).maxNewTokens(32).stopTokens(b.tokenizer.eosId()).build();
    this.settings = new Settings(b.n, b.seed, RolloutWire.Sampling.of(s), b.batchSize, b.addBos);
  }

  /** A builder sampling from {@code policy}, scoring with {@code rewardModel}. */
  public static Builder builder(SparkSession spark, CausalLm policy, TransformerRewardModel rewardModel,
      Tokenizer tokenizer) {
    return new Builder(spark, policy, rewardModel, tokenizer);
  }

  /** The seed of row {@code index}: a SplitMix64 mix of the two. */
  public static long rowSeed(long seed, long index) {
    long z = seed + (index + 1) * 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** Bytes broadcast (policy, reward model, tokenizer). */
  public long broadcastBytes() {
    return models.bytes;
  }

  /**
   * {@code prompts} with the columns {@value #BEST} (STRING), {@value #BEST_SCORE} (DOUBLE),
   * {@value #RESPONSES} (ARRAY&lt;STRING&gt;) and {@value #SCORES} (ARRAY&lt;DOUBLE&gt;) for the
   * STRING column {@code promptColumn}.
   */
  public Dataset<Row> generate(Dataset<Row> prompts, String promptColumn) {
    checkState(!closed, "SparkBestOfN.generate() after close()");
    StructType schema = prompts.schema();
    int p = SparkRewardScorer.stringColumn(schema, promptColumn);
    for (String c : List.of(BEST, BEST_SCORE, RESPONSES, SCORES)) {
      checkArgument(!Arrays.asList(schema.fieldNames()).contains(c), "the dataset already has a column %s", c);
    }
    StructType out = schema.add(BEST, DataTypes.StringType, false)
        .add(BEST_SCORE, DataTypes.DoubleType, false)
        .add(RESPONSES, DataTypes.createArrayType(DataTypes.StringType, false), false)
        .add(SCORES, DataTypes.createArrayType(DataTypes.DoubleType, false), false);
    JavaRDD<Row> rows = prompts.javaRDD().zipWithIndex().mapPartitions(new Task(models, settings, p));
    return spark.createDataFrame(rows, out);
  }

  /** Destroys the broadcasts and this run's cached models in this JVM. Idempotent. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      models.destroy();
    }
  }

  private static final class Task implements FlatMapFunction<Iterator<Tuple2<Row, Long>>, Row> {
    private static final long serialVersionUID = 1L;
    private final FrozenModels models;
    private final Settings settings;
    private final int prompt;

    Task(FrozenModels models, Settings settings, int prompt) {
      this.models = models;
      this.settings = settings;
      this.prompt = prompt;
    }

    @Override
    public Iterator<Row> call(Iterator<Tuple2<Row, Long>> rows) {
      List<Row> out = new ArrayList<>();
      if (!rows.hasNext()) {
        return out.iterator();
      }
      try (ExecutorModels.Lease<CausalLm> policy = models.policy();
          ExecutorModels.Lease<TransformerRewardModel> rm = models.rewardModel();
          ExecutorModels.Lease<FrozenModels.CachedTokenizer> tok = models.tokenizer()) {
        BestOfNSampler sampler = BestOfNSampler.builder(policy.get(), rm.get(), tok.get().tokenizer())
            .sampling(settings.sampling().config()).batchSize(settings.batchSize()).addBos(settings.addBos()).build();
        while (rows.hasNext()) {
          Tuple2<Row, Long> t = rows.next();
          Row row = t._1();
          String p = row.getString(prompt);
          if (p == null) {
            throw new RlhfException("row " + t._2() + ": the prompt is null");
          }
          BestOfNSampler.Candidates c;
          try {
            c = sampler.sample(List.of(p), settings.n(), rowSeed(settings.seed(), t._2())).get(0);
          } catch (RuntimeException e) {
            throw new RlhfException("row " + t._2() + " (prompt \"" + SparkRewardScorer.abbreviate(p) + "\"): "
                + e.getMessage(), e);
          }
          Object[] values = new Object[row.size() + 4];
          for (int i = 0; i < row.size(); i++) {
            values[i] = row.get(i);
          }
          int best = c.bestOf(settings.n());
          List<Double> scores = new ArrayList<>(settings.n());
          for (double s : c.scores()) {
            scores.add(s);
          }
          values[row.size()] = c.responses().get(best);
          values[row.size() + 1] = c.scores()[best];
          values[row.size() + 2] = SparkRewardScorer.seq(new ArrayList<>(c.responses()));
          values[row.size() + 3] = SparkRewardScorer.seq(scores);
          out.add(RowFactory.create(values));
        }
      }
      return out.iterator();
    }
  }

  /** Builds a {@link SparkBestOfN}. */
  public static final class Builder {
    private final SparkSession spark;
    private final CausalLm policy;
    private final TransformerRewardModel rewardModel;
    private final Tokenizer tokenizer;
    private int n = 4;
    private long seed;
    private SamplingConfig sampling;
    private int batchSize = 32;
    private boolean addBos = true;
    private long maxBroadcastBytes = ModelBytes.DEFAULT_MAX_BYTES;
    private final String runId = UUID.randomUUID().toString();

    private Builder(SparkSession spark, CausalLm policy, TransformerRewardModel rewardModel, Tokenizer tokenizer) {
      this.spark = checkNotNull(spark, "spark");
      this.policy = checkNotNull(policy, "policy");
      this.rewardModel = checkNotNull(rewardModel, "rewardModel");
      this.tokenizer = checkNotNull(tokenizer, "tokenizer");
    }

    /** Responses drawn per prompt (default 4). */
    public Builder n(int v) {
      checkArgument(v >= 1, "n must be >= 1, got %s", v);
      this.n = v;
      return this;
    }

    /** The seed rows' seeds are mixed from (default 0). */
    public Builder seed(long v) {
      this.seed = v;
      return this;
    }

    /** How responses are sampled (default: temperature 1, 32 new tokens, stop at EOS, as {@link BestOfNSampler}). */
    public Builder sampling(SamplingConfig v) {
      this.sampling = checkNotNull(v, "sampling");
      return this;
    }

    /** Sequences generated at once (default 32). */
    public Builder batchSize(int v) {
      checkArgument(v >= 1, "batchSize must be >= 1, got %s", v);
      this.batchSize = v;
      return this;
    }

    /** Whether prompts start with BOS (default true). */
    public Builder addBos(boolean v) {
      this.addBos = v;
      return this;
    }

    /** The largest model broadcast, in bytes (see {@link SparkRolloutSource.Builder#maxBroadcastBytes}). */
    public Builder maxBroadcastBytes(long v) {
      checkArgument(v >= 1 && v <= ModelBytes.DEFAULT_MAX_BYTES, "maxBroadcastBytes must be in [1, %s], got %s",
          ModelBytes.DEFAULT_MAX_BYTES, v);
      this.maxBroadcastBytes = v;
      return this;
    }

    /** The generator; broadcasts the models and the tokenizer. */
    public SparkBestOfN build() {
      return new SparkBestOfN(this);
    }
  }
}
