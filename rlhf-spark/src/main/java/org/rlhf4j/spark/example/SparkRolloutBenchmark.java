package org.rlhf4j.spark.example;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.ppo.GrpoConfig;
import org.rlhf4j.ppo.GrpoStats;
import org.rlhf4j.ppo.GrpoTrainer;
import org.rlhf4j.ppo.RolloutSource;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.spark.ModelBytes;
import org.rlhf4j.spark.SparkRolloutSource;

/**
 * Measures a GRPO step's rollout in one process ({@link RolloutSource#PER_PROMPT}) and on Spark in
 * local mode with 1 and 2 executor threads, for the same models and seeds (and checks that the
 * statistics are the same): wall time of the rollout per step, and for Spark its parts (serialising
 * the models, the job, the executors' model building and rollouts). Arguments: {@code [tiny|small]
 * [steps]}; the first step (which builds every model and warms the JIT) is reported apart. Run with
 * OMP_NUM_THREADS=1.
 */
public final class SparkRolloutBenchmark {
  private SparkRolloutBenchmark() {}

  private record Run(String name, List<GrpoStats> stats, List<SparkRolloutSource.Timings> timings) {}

  private static Run run(String name, SparkGrpoExample.Preset p, int steps, String master) {
    ByteTokenizer tok = ByteTokenizer.create();
    GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(p.dModel).heads(p.heads).layers(p.layers)
        .contextLength(p.context).build();
    GrpoConfig grpo = GrpoConfig.builder().beta(0.04).learningRate(3e-3).numGenerations(p.generations)
        .batchSize(p.promptsPerStep * p.generations).miniBatchSize(p.promptsPerStep * p.generations / 2)
        .numIterations(1).maxNewTokens(p.maxNewTokens).seed(1).build();
    List<String> prompts = new ArrayList<>();
    for (int i = 0; i < p.promptsPerStep; i++) {
      prompts.add("prompt " + (char) ('a' + i % 26) + i);
    }
    List<SparkRolloutSource.Timings> timings = new ArrayList<>();
    SparkSession spark = master == null ? null : SparkSession.builder().master(master).appName("rlhf4j-bench")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
    try (GptModel ref = GptModel.randomInit(cfg, 7, new ModelOptions(DataType.FLOAT, 1));
        TransformerRewardModel rm = TransformerRewardModel.fromPolicy(ref, 8);
        GptModel policy = ref.copy(ref.options());
        SparkRolloutSource src = spark == null ? null : SparkRolloutSource.builder(spark).build()) {
      RolloutSource source = src == null ? RolloutSource.PER_PROMPT : (c, ps, g, seeds) -> {
        var r = src.collect(c, ps, g, seeds);
        timings.add(src.lastTimings());
        return r;
      };
      try (GrpoTrainer t = GrpoTrainer.builder(grpo).policy(policy).reference(ref).rewardModel(rm).tokenizer(tok)
          .prompts(prompts).rolloutSource(source).build()) {
        if (spark != null && timings.isEmpty()) {
          System.out.printf(Locale.ROOT, "%s: policy %.2f MiB of parameters%n", name,
              ModelBytes.parameterBytes(policy) / 1048576.0);
        }
        return new Run(name, t.train(steps), timings);
      }
    } finally {
      if (spark != null) {
        spark.stop();
      }
    }
  }

  private static double mean(List<Double> xs) {
    return xs.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
  }

  /** Runs the benchmark: {@code [tiny|small] [steps]}. */
  public static void main(String[] args) {
    CpuBackend.configure(); // first, before anything loads ND4J: chooses the BLAS (MKL on Intel CPUs) and its kernels
    SparkGrpoExample.Preset p = SparkGrpoExample.Preset.valueOf(
        (args.length > 0 ? args[0] : "tiny").toUpperCase(Locale.ROOT));
    int steps = args.length > 1 ? Integer.parseInt(args[1]) : 4;
    List<Run> runs = List.of(run("in-process", p, steps, null), run("local[1]", p, steps, "local[1]"),
        run("local[2]", p, steps, "local[2]"));
    System.out.printf(Locale.ROOT, "%s preset: %d prompts x %d completions of up to %d tokens per step, %d steps%n",
        p, p.promptsPerStep, p.generations, p.maxNewTokens, steps);
    System.out.printf(Locale.ROOT, "%-11s %10s %10s | %9s %9s %9s %9s %9s %7s%n", "rollouts", "step 1 s", "later s",
        "serial s", "job s", "build s", "exec s", "MiB", "built");
    for (Run r : runs) {
      List<Double> later = new ArrayList<>();
      for (int i = 1; i < r.stats().size(); i++) {
        later.add(r.stats().get(i).get("time/rollout"));
      }
      String spark = "";
      if (!r.timings().isEmpty()) {
        List<SparkRolloutSource.Timings> l = r.timings().subList(1, r.timings().size());
        spark = String.format(Locale.ROOT, "%9.3f %9.3f %9.3f %9.3f %9.2f %7.1f",
            mean(l.stream().map(SparkRolloutSource.Timings::serializeSeconds).toList()),
            mean(l.stream().map(SparkRolloutSource.Timings::jobSeconds).toList()),
            mean(l.stream().map(SparkRolloutSource.Timings::executorBuildSeconds).toList()),
            mean(l.stream().map(SparkRolloutSource.Timings::executorRolloutSeconds).toList()),
            mean(l.stream().map(t -> t.broadcastBytes() / 1048576.0).toList()),
            mean(l.stream().map(t -> (double) t.modelsBuilt()).toList()));
      }
      System.out.printf(Locale.ROOT, "%-11s %10.3f %10.3f | %s%n", r.name(), r.stats().get(0).get("time/rollout"),
          mean(later), spark);
    }
    boolean same = true;
    for (Run r : runs.subList(1, runs.size())) {
      for (int i = 0; i < steps; i++) {
        for (String k : runs.get(0).stats().get(i).values().keySet()) {
          if (!k.startsWith("time/") && runs.get(0).stats().get(i).get(k) != r.stats().get(i).get(k)) {
            same = false;
          }
        }
      }
    }
    System.out.println("same statistics in all three: " + same);
  }
}
