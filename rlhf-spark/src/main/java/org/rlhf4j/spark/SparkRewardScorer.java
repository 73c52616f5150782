package org.rlhf4j.spark;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.TransformerRewardModel;

/**
 * Scores a Spark {@code Dataset} with a reward model on the executors: prompt/response rows (a
 * {@code score} column is added), or K-way rankings (a {@code scores} column, and the pairwise
 * accuracy). The reward model (weights and normalisation, as safetensors bytes) and the tokenizer
 * are broadcast once, when the scorer is built; each executor rebuilds them once and caches them
 * ({@link ExecutorModels}). A sequence is the prompt's tokens (after BOS if {@code addBos}), the
 * response's and EOS if {@code appendEos}, as the reward trainer builds them; scores are {@link
 * TransformerRewardModel#score} in batches of {@code batchSize} rows of a partition.
 *
 * <p>Datasets are transformed lazily: the returned ones are computed by the action that uses them,
 * while this scorer is open. {@link #close()} destroys the broadcasts.
 */
public final class SparkRewardScorer implements AutoCloseable {
  /** The column {@link #score} adds. */
  public static final String SCORE = "score";
  /** The column {@link #scoreRankings} adds. */
  public static final String SCORES = "scores";

  private final SparkSession spark;
  private final FrozenModels models;
  private final Options options;
  private boolean closed;

  /** The pairwise accuracy of K-way rankings: of all K(K-1)/2 ordered pairs, those the model orders the same way. */
  public record RankingAccuracy(long rankings, long pairs, long correct, long ties) {
    /** {@code correct / pairs} (ties count as wrong), NaN without pairs. */
    public double accuracy() {
      return pairs == 0 ? Double.NaN : (double) correct / pairs;
    }
  }

  record Options(boolean addBos, boolean appendEos, int batchSize, int contextLength) implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
  }

  private SparkRewardScorer(Builder b) {
    this.spark = b.spark;
    JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    this.models = FrozenModels.broadcast(sc, b.runId, b.rewardModel, null, b.tokenizer, b.maxBroadcastBytes);
    this.options = new Options(b.addBos, b.appendEos, b.batchSize, b.rewardModel.model().contextLength());
  }

  /** A builder scoring with {@code rewardModel} on {@code spark}'s executors, texts tokenized by {@code tokenizer}. */
  public static Builder builder(SparkSession spark, TransformerRewardModel rewardModel, Tokenizer tokenizer) {
    return new Builder(spark, rewardModel, tokenizer);
  }

  /** Bytes broadcast (reward model and tokenizer). */
  public long broadcastBytes() {
    return models.bytes;
  }

  /**
   * {@code rows} with a {@value #SCORE} column (DOUBLE): the reward of each row's {@code promptColumn}
   * and {@code responseColumn} (strings).
   */
  public Dataset<Row> score(Dataset<Row> rows, String promptColumn, String responseColumn) {
    checkState(!closed, "SparkRewardScorer.score() after close()");
    StructType schema = rows.schema();
    int p = stringColumn(schema, promptColumn);
    int r = stringColumn(schema, responseColumn);
    checkArgument(!Arrays.asList(schema.fieldNames()).contains(SCORE), "the dataset already has a column %s", SCORE);
    StructType out = schema.add(SCORE, DataTypes.DoubleType, false);
    JavaRDD<Row> scored = rows.javaRDD().mapPartitions(new ScoreTask(models, options, p, r, false));
    return spark.createDataFrame(scored, out);
  }

  /**
   * {@code rows} with a {@value #SCORES} column (ARRAY&lt;DOUBLE&gt;): the reward of each response of
   * the {@code responsesColumn} (ARRAY&lt;STRING&gt;, best first, at least 2) after the row's prompt.
   */
  public Dataset<Row> scoreRankings(Dataset<Row> rows, String promptColumn, String responsesColumn) {
    checkState(!closed, "SparkRewardScorer.scoreRankings() after close()");
    StructType schema = rows.schema();
    int p = stringColumn(schema, promptColumn);
    int r = column(schema, responsesColumn, DataTypes.createArrayType(DataTypes.StringType), "ARRAY<STRING>");
    checkArgument(!Arrays.asList(schema.fieldNames()).contains(SCORES), "the dataset already has a column %s", SCORES);
    StructType out = schema.add(SCORES, DataTypes.createArrayType(DataTypes.DoubleType, false), false);
    JavaRDD<Row> scored = rows.javaRDD().mapPartitions(new ScoreTask(models, options, p, r, true));
    return spark.createDataFrame(scored, out);
  }

  /**
   * The pairwise accuracy of the rankings in {@code rows} ({@link #scoreRankings}'s columns): a pair
   * (i, j), i ranked above j, is correct when response i scores higher.
   */
  public RankingAccuracy rankingAccuracy(Dataset<Row> rows, String promptColumn, String responsesColumn) {
    Dataset<Row> scored = scoreRankings(rows, promptColumn, responsesColumn);
    int s = scored.schema().fieldIndex(SCORES);
    long[] sums = scored.javaRDD().map(row -> {
      List<Double> sc = row.getList(s);
      long pairs = 0;
      long correct = 0;
      long ties = 0;
      for (int i = 0; i < sc.size(); i++) {
        for (int j = i + 1; j < sc.size(); j++) {
          pairs++;
          correct += sc.get(i) > sc.get(j) ? 1 : 0;
          ties += sc.get(i).equals(sc.get(j)) ? 1 : 0;
        }
      }
      return new long[] {1, pairs, correct, ties};
    }).fold(new long[4], (a, b) -> new long[] {a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]});
    return new RankingAccuracy(sums[0], sums[1], sums[2], sums[3]);
  }

  static int stringColumn(StructType schema, String name) {
    return column(schema, name, DataTypes.StringType, "STRING");
  }

  static int column(StructType schema, String name, DataType type, String typeName) {
    checkNotNull(name, "column name");
    List<String> names = Arrays.asList(schema.fieldNames());
    checkArgument(names.contains(name), "the dataset has no column \"%s\" (its columns: %s)", name, names);
    StructField f = schema.apply(name);
    boolean ok = type instanceof ArrayType at
        ? f.dataType() instanceof ArrayType ft && ft.elementType().equals(at.elementType())
        : f.dataType().equals(type);
    checkArgument(ok, "column \"%s\" is %s, expected %s", name, f.dataType().simpleString(), typeName);
    return names.indexOf(name);
  }

  /** Destroys the broadcasts and this run's cached models in this JVM. Idempotent. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      models.destroy();
    }
  }

  /** Runs on an executor: scores a partition's rows in batches. */
  private static final class ScoreTask implements FlatMapFunction<Iterator<Row>, Row> {
    private static final long serialVersionUID = 1L;
    private final FrozenModels models;
    private final Options options;
    private final int prompt;
    private final int response;
    private final boolean ranking;

    ScoreTask(FrozenModels models, Options options, int prompt, int response, boolean ranking) {
      this.models = models;
      this.options = options;
      this.prompt = prompt;
      this.response = response;
      this.ranking = ranking;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
      List<Row> out = new ArrayList<>();
      if (!rows.hasNext()) {
        return out.iterator();
      }
      TaskContext ctx = TaskContext.get();
      String where = ctx == null ? "" : " of partition " + ctx.partitionId();
      try (ExecutorModels.Lease<TransformerRewardModel> rm = models.rewardModel();
          ExecutorModels.Lease<FrozenModels.CachedTokenizer> tok = models.tokenizer()) {
        Tokenizer t = tok.get().tokenizer();
        List<Row> batch = new ArrayList<>();
        List<int[]> seqs = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        long rowIndex = 0;
        while (rows.hasNext()) {
          Row row = rows.next();
          String p = row.getString(prompt);
          if (p == null) {
            throw new RlhfException("row " + rowIndex + where + ": the prompt is null");
          }
          int[] head = t.encodePrompt(p, options.addBos());
          List<String> responses;
          if (ranking) {
            List<String> rs = row.isNullAt(response) ? null : row.getList(response);
            if (rs == null || rs.size() < 2) {
              throw new RlhfException("row " + rowIndex + where + " (prompt \"" + abbreviate(p) + "\"): a ranking needs"
                  + " at least 2 responses, got " + (rs == null ? "null" : rs.size()));
            }
            responses = rs;
          } else {
            responses = java.util.Collections.singletonList(row.getString(response));
          }
          for (int i = 0; i < responses.size(); i++) {
            String resp = responses.get(i);
            if (resp == null) {
              throw new RlhfException("row " + rowIndex + where + " (prompt \"" + abbreviate(p) + "\"): response " + i
                  + " is null");
            }
            seqs.add(sequence(head, t.encode(resp), t, rowIndex, where, p, i));
          }
          batch.add(row);
          counts.add(responses.size());
          rowIndex++;
          if (seqs.size() >= options.batchSize()) {
            flush(rm.get(), t, batch, seqs, counts, out);
          }
        }
        flush(rm.get(), t, batch, seqs, counts, out);
      }
      return out.iterator();
    }

    private int[] sequence(int[] head, int[] resp, Tokenizer t, long row, String where, String prompt, int i) {
      int len = head.length + resp.length + (options.appendEos() ? 1 : 0);
      if (len > options.contextLength()) {
        throw new RlhfException("row " + row + where + " (prompt \"" + abbreviate(prompt) + "\"): response " + i
            + " with its prompt is " + len + " tokens, longer than the reward model's context " + options.contextLength());
      }
      int[] s = Arrays.copyOf(head, len);
      System.arraycopy(resp, 0, s, head.length, resp.length);
      if (options.appendEos()) {
        s[len - 1] = t.eosId();
      }
      return s;
    }

    private void flush(TransformerRewardModel rm, Tokenizer t, List<Row> batch, List<int[]> seqs, List<Integer> counts,
        List<Row> out) {
      if (batch.isEmpty()) {
        return;
      }
      double[] scores = rm.score(TokenBatch.rightPadded(seqs, t.padId())).toDoubleVector();
      int k = 0;
      for (int i = 0; i < batch.size(); i++) {
        Row row = batch.get(i);
        Object[] values = new Object[row.size() + 1];
        for (int c = 0; c < row.size(); c++) {
          values[c] = row.get(c);
        }
        if (ranking) {
          List<Double> s = new ArrayList<>(counts.get(i));
          for (int j = 0; j < counts.get(i); j++) {
            s.add(finite(scores[k++], row));
          }
          values[row.size()] = seq(s);
        } else {
          values[row.size()] = finite(scores[k++], row);
        }
        out.add(RowFactory.create(values));
      }
      batch.clear();
      seqs.clear();
      counts.clear();
    }

    private double finite(double s, Row row) {
      if (!Double.isFinite(s)) {
        throw new RlhfException("the reward model scored the row with prompt \"" + abbreviate(row.getString(prompt))
            + "\" " + s);
      }
      return s;
    }
  }

  /** A Java list as the Scala sequence a {@code Row}'s ARRAY value must be. */
  static <T> scala.collection.Seq<T> seq(List<T> list) {
    return scala.jdk.javaapi.CollectionConverters.asScala(list);
  }

  static String abbreviate(String s) {
    return s.length() <= 60 ? s : s.substring(0, 57) + "...";
  }

  /** Builds a {@link SparkRewardScorer}. */
  public static final class Builder {
    private final SparkSession spark;
    private final TransformerRewardModel rewardModel;
    private final Tokenizer tokenizer;
    private boolean addBos = true;
    private boolean appendEos = true;
    private int batchSize = 32;
    private long maxBroadcastBytes = ModelBytes.DEFAULT_MAX_BYTES;
    private String runId = UUID.randomUUID().toString();

    private Builder(SparkSession spark, TransformerRewardModel rewardModel, Tokenizer tokenizer) {
      this.spark = checkNotNull(spark, "spark");
      this.rewardModel = checkNotNull(rewardModel, "rewardModel");
      this.tokenizer = checkNotNull(tokenizer, "tokenizer");
    }

    /** Whether prompts start with BOS (default true, as the reward trainer). */
    public Builder addBos(boolean v) {
      this.addBos = v;
      return this;
    }

    /** Whether sequences end with EOS (default true, as the reward trainer). */
    public Builder appendEos(boolean v) {
      this.appendEos = v;
      return this;
    }

    /** Sequences scored at once on an executor (default 32). */
    public Builder batchSize(int v) {
      checkArgument(v >= 1, "batchSize must be >= 1, got %s", v);
      this.batchSize = v;
      return this;
    }

    /** The largest model broadcast, in bytes (see {@link SparkRolloutSource.Builder#maxBroadcastBytes}). */
    public Builder maxBroadcastBytes(long v) {
      checkArgument(v >= 1 && v <= ModelBytes.DEFAULT_MAX_BYTES, "maxBroadcastBytes must be in [1, %s], got %s",
          ModelBytes.DEFAULT_MAX_BYTES, v);
      this.maxBroadcastBytes = v;
      return this;
    }

    /** The scorer; broadcasts the reward model and tokenizer (refusing a model over the limit, with its size). */
    public SparkRewardScorer build() {
      return new SparkRewardScorer(this);
    }
  }
}
