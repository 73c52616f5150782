package org.rlhf4j.spark.example;

import static com.google.common.base.Preconditions.checkArgument;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.ppo.GrpoConfig;
import org.rlhf4j.ppo.GrpoStats;
import org.rlhf4j.ppo.GrpoTrainer;
import org.rlhf4j.ppo.RolloutSource;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.spark.SparkBestOfN;
import org.rlhf4j.spark.SparkRolloutSource;

/**
 * GRPO (or RLOO) with its rollouts on a Spark cluster, then best-of-n generation over a
 * {@code Dataset} of prompts with the trained policy. With {@code --sft DIR --reward DIR} it starts
 * from the quick-start's checkpoints (an SFT policy, a reward model); without, from random models of
 * the preset's size (the mechanics only). Run with {@code spark-submit} (see the README's "Spark"
 * section); arguments: {@code [--steps N] [--algo grpo|rloo] [--preset tiny|small] [--partitions P]
 * [--sft DIR] [--reward DIR] [--output DIR] [--bon-prompts N]} ({@code --output} writes the
 * best-of-n rows as JSON; {@code --bon-prompts} of the 32 built-in prompts get best-of-4).
 */
public final class SparkGrpoExample {
  private SparkGrpoExample() {}

  /** Model sizes: {@code TINY} is the quick-start's tiny policy (what the test runs). */
  public enum Preset {
    /** d 32, 2 heads, 2 blocks, context 40; 8 prompts x 4 completions per step. */
    TINY(32, 2, 2, 40, 8, 4, 12),
    /** d 128, 4 heads, 4 blocks, context 48; 32 prompts x 4 completions per step. */
    SMALL(128, 4, 4, 48, 32, 4, 20);

    final int dModel;
    final int heads;
    final int layers;
    final int context;
    final int promptsPerStep;
    final int generations;
    final int maxNewTokens;

    Preset(int dModel, int heads, int layers, int context, int promptsPerStep, int generations, int maxNewTokens) {
      this.dModel = dModel;
      this.heads = heads;
      this.layers = layers;
      this.context = context;
      this.promptsPerStep = promptsPerStep;
      this.generations = generations;
      this.maxNewTokens = maxNewTokens;
    }
  }

  /** The parsed arguments. */
  public record Options(int steps, boolean rloo, Preset preset, int partitions, Path sft, Path reward, Path output,
      int bestOfNPrompts, long seed) {
    /** Parses {@code args} (see the class documentation). */
    public static Options parse(String... args) {
      int steps = 5;
      boolean rloo = false;
      Preset preset = Preset.TINY;
      int partitions = 0;
      Path sft = null;
      Path reward = null;
      Path output = null;
      int bonPrompts = PROMPTS.size();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        checkArgument(a.startsWith("--") && i + 1 < args.length, "argument %s: expected --name value", a);
        String v = args[++i];
        switch (a) {
          case "--steps" -> steps = Integer.parseInt(v);
          case "--algo" -> {
            checkArgument(v.equals("grpo") || v.equals("rloo"), "--algo must be grpo or rloo, got %s", v);
            rloo = v.equals("rloo");
          }
          case "--preset" -> preset = Preset.valueOf(v.toUpperCase(Locale.ROOT));
          case "--partitions" -> partitions = Integer.parseInt(v);
          case "--sft" -> sft = Path.of(v);
          case "--reward" -> reward = Path.of(v);
          case "--output" -> output = Path.of(v);
          case "--bon-prompts" -> bonPrompts = Integer.parseInt(v);
          default -> throw new IllegalArgumentException("unknown argument " + a
              + " (known: --steps --algo --preset --partitions --sft --reward --output"
              + " --bon-prompts)");
        }
      }
      checkArgument(steps >= 1, "--steps must be >= 1, got %s", steps);
      checkArgument(partitions >= 0, "--partitions must be >= 0, got %s", partitions);
      checkArgument((sft == null) == (reward == null), "give both --sft and --reward, or neither");
      checkArgument(bonPrompts >= 1 && bonPrompts <= PROMPTS.size(), "--bon-prompts must be in [1, %s], got %s",
          PROMPTS.size(), bonPrompts);
      return new Options(steps, rloo, preset, partitions, sft, reward, output, bonPrompts, 42);
    }
  }

  /** What a run did: each step's statistics and Spark timings, and the best-of-n rows. */
  public record Result(List<GrpoStats> steps, List<SparkRolloutSource.Timings> timings, long bestOfNRows,
      double meanBestScore) {}

  private static final List<String> PROMPTS = List.of("Hi", "Tell me", "Once upon", "A", "The", "So", "We", "It", "My",
      "Why", "Oh", "Yes", "No", "Go", "I", "Be", "This film", "The plot", "Acting", "I liked", "Boring", "What a",
      "Never", "Great", "The end", "Music", "Actors", "Story", "Why not", "Well", "Sadly", "Wow");

  /** Runs the example on {@code spark} and returns what it did. */
  public static Result run(SparkSession spark, Options o) {
    Tokenizer tok;
    CausalLm reference;
    TransformerRewardModel rm;
    ModelOptions mo = new ModelOptions(DataType.FLOAT, 1);
    if (o.sft() != null) {
      ModelCheckpoint.LoadedLm l = ModelCheckpoint.loadAny(o.sft(), mo); // any registered architecture
      reference = l.model();
      tok = l.tokenizer().orElseThrow(() -> new IllegalArgumentException(o.sft() + " has no tokenizer"));
      rm = TransformerRewardModel.load(o.reward(), mo);
    } else {
      tok = ByteTokenizer.create();
      GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(o.preset().dModel).heads(o.preset().heads)
          .layers(o.preset().layers).contextLength(o.preset().context).build();
      reference = GptModel.randomInit(cfg, o.seed(), mo);
      rm = TransformerRewardModel.fromPolicy(reference, o.seed() + 1);
    }
    Preset p = o.preset();
    GrpoConfig.Builder b = o.rloo() ? GrpoConfig.rlooBuilder().beta(0.1) : GrpoConfig.builder().beta(0.04);
    GrpoConfig grpo = b.learningRate(3e-3).numGenerations(p.generations).batchSize(p.promptsPerStep * p.generations)
        .miniBatchSize(p.promptsPerStep * p.generations / 2).numIterations(1).maxNewTokens(p.maxNewTokens)
        .seed(o.seed()).build();
    List<SparkRolloutSource.Timings> timings = new ArrayList<>();
    SparkRolloutSource.Builder sb = SparkRolloutSource.builder(spark);
    if (o.partitions() > 0) {
      sb.partitions(o.partitions());
    }
    try (CausalLm ref = reference;
        TransformerRewardModel reward = rm;
        CausalLm policy = ref.copy(ref.options());
        SparkRolloutSource source = sb.build()) {
      RolloutSource recording = (c, prompts, g, seeds) -> {
        var r = source.collect(c, prompts, g, seeds);
        timings.add(source.lastTimings());
        return r;
      };
      List<GrpoStats> steps;
      try (GrpoTrainer trainer = GrpoTrainer.builder(grpo).policy(policy).reference(ref).rewardModel(reward)
          .tokenizer(tok).prompts(PROMPTS).rolloutSource(recording).build()) {
        steps = trainer.train(o.steps());
      }
      List<Row> rows = new ArrayList<>();
      for (String s : PROMPTS.subList(0, o.bestOfNPrompts())) {
        rows.add(RowFactory.create(s));
      }
      Dataset<Row> prompts = spark.createDataFrame(
          JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(rows, Math.max(1, o.partitions())),
          new StructType().add("prompt", DataTypes.StringType));
      SamplingConfig sampling = SamplingConfig.builder().temperature(1.0).maxNewTokens(p.maxNewTokens)
          .stopTokens(tok.eosId()).build();
      try (SparkBestOfN bon = SparkBestOfN.builder(spark, policy, reward, tok).n(4).seed(o.seed()).sampling(sampling)
          .build()) {
        Dataset<Row> best = bon.generate(prompts, "prompt").cache();
        long n = best.count();
        double mean = best.agg(org.apache.spark.sql.functions.avg(SparkBestOfN.BEST_SCORE)).first().getDouble(0);
        if (o.output() != null) {
          best.select("prompt", SparkBestOfN.BEST, SparkBestOfN.BEST_SCORE).write().mode("overwrite")
              .json(o.output().toString());
        }
        best.unpersist();
        return new Result(steps, timings, n, mean);
      }
    }
  }

  /** The {@code spark-submit} entry point: the master and resources come from spark-submit. */
  public static void main(String[] args) {
    CpuBackend.configure(); // first, before anything loads ND4J: chooses the BLAS (MKL on Intel CPUs) and its kernels
    Options o = Options.parse(args);
    SparkSession spark = SparkSession.builder().appName("rlhf4j-grpo").getOrCreate();
    try {
      Result r = run(spark, o);
      for (int i = 0; i < r.steps().size(); i++) {
        GrpoStats s = r.steps().get(i);
        SparkRolloutSource.Timings t = r.timings().get(i);
        System.out.printf(Locale.ROOT, "step %d: score %.3f, KL %.3f, rollout %.2f s (serialise %.3f s, Spark job %.2f s,"
                + " %d models built, %.1f MiB broadcast)%n", s.step(), s.get("objective/scores"), s.get("objective/kl"),
            s.get("time/rollout"), t.serializeSeconds(), t.jobSeconds(), t.modelsBuilt(), t.broadcastBytes() / 1048576.0);
      }
      System.out.printf(Locale.ROOT, "best-of-4 over %d prompts: mean best score %.3f%n", r.bestOfNRows(),
          r.meanBestScore());
    } finally {
      spark.stop();
    }
  }
}
