package org.rlhf4j.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.ppo.GrpoConfig;
import org.rlhf4j.ppo.GrpoStats;
import org.rlhf4j.ppo.GrpoTrainer;
import org.rlhf4j.ppo.RolloutSource;
import org.rlhf4j.reward.RewardModel;
import org.rlhf4j.reward.TransformerRewardModel;

/**
 * GRPO and RLOO steps with rollouts on Spark ({@code local[2,3]}) equal the in-process ones
 * ({@link RolloutSource#PER_PROMPT}) for the same seed and model threads, also when a task fails
 * once and is retried; executors rebuild the policy once per version and the frozen models once per
 * run; a model over the broadcast limit is refused with its size.
 */
class SparkRolloutSourceTest {
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = TestSpark.session();
  }

  private static GrpoConfig grpo() {
    return GrpoConfig.builder().learningRate(3e-3).beta(0.1).numGenerations(2).batchSize(8).miniBatchSize(4)
        .numIterations(1).maxNewTokens(6).seed(5).build();
  }

  private static GrpoConfig rloo() {
    return GrpoConfig.rlooBuilder().learningRate(3e-3).beta(0.2).numGenerations(2).batchSize(8).miniBatchSize(8)
        .numIterations(2).maxNewTokens(5).seed(6).build();
  }

  /** {@code steps} steps of a fresh trainer from the same models, its rollouts from {@code source}. */
  private static List<GrpoStats> train(GrpoConfig cfg, RolloutSource source, int steps) {
    try (GptModel sft = TestSpark.tinyModel(3);
        TransformerRewardModel rm = TransformerRewardModel.fromPolicy(TestSpark.tinyModel(4), 9);
        GptModel policy = sft.copy(new ModelOptions(DataType.FLOAT, 2));
        GrpoTrainer t = GrpoTrainer.builder(cfg).policy(policy).reference(sft).rewardModel(rm)
            .tokenizer(TestSpark.TOK).prompts(TestSpark.prompts()).rolloutSource(source).build()) {
      return t.train(steps);
    }
  }

  private static void assertSameSteps(List<GrpoStats> expected, List<GrpoStats> actual) {
    assertEquals(expected.size(), actual.size());
    for (int s = 0; s < expected.size(); s++) {
      Map<String, Double> e = expected.get(s).values();
      assertEquals(e.keySet(), actual.get(s).values().keySet());
      for (String k : e.keySet()) {
        if (!k.startsWith("time/")) {
          assertEquals(e.get(k), actual.get(s).get(k), k + " at step " + (s + 1));
        }
      }
    }
  }

  @Test
  void sparkStepsEqualTheInProcessOnes() {
    for (GrpoConfig cfg : List.of(grpo(), rloo())) {
      List<GrpoStats> local = train(cfg, RolloutSource.PER_PROMPT, 3);
      List<SparkRolloutSource.Timings> timings = new ArrayList<>();
      List<GrpoStats> distributed;
      try (SparkRolloutSource src = SparkRolloutSource.builder(spark).partitions(2).build()) {
        RolloutSource recording = (c, p, g, s) -> {
          var r = src.collect(c, p, g, s);
          timings.add(src.lastTimings());
          return r;
        };
        distributed = train(cfg, recording, 3);
        // only the last policy version is kept for this run, besides the reference and reward model
        List<ExecutorModels.Key> keys = ExecutorModels.keys().stream().filter(k -> k.runId().equals(src.runId())).toList();
        assertEquals(3, keys.size(), keys.toString());
        assertTrue(keys.contains(new ExecutorModels.Key(src.runId(), "policy", 2)), keys.toString());
        // one copy per concurrent task (2 threads) at most: the frozen models once per run, the policy per version
        String msg = timings.toString();
        assertTrue(ExecutorModels.built(src.runId(), "reference") >= 1 && ExecutorModels.built(src.runId(), "reference") <= 2, msg);
        assertTrue(ExecutorModels.built(src.runId(), "reward") >= 1 && ExecutorModels.built(src.runId(), "reward") <= 2, msg);
        long policies = ExecutorModels.built(src.runId(), "policy");
        assertTrue(policies >= 3 && policies <= 6, policies + " policy copies for 3 versions; " + msg);
      }
      assertSameSteps(local, distributed);
      assertTrue(local.get(2).get("loss/total_avg") != 0.0);
      // step 1 builds the three models; every later step at least the new policy
      assertTrue(timings.get(0).modelsBuilt() >= 3 && timings.get(0).modelsBuilt() <= 6, timings.toString());
      for (int s = 1; s < 3; s++) {
        assertTrue(timings.get(s).modelsBuilt() >= 1, timings.toString());
        assertTrue(timings.get(s).broadcastBytes() < timings.get(0).broadcastBytes(), timings.toString()); // policy only
      }
      assertEquals(0, timings.get(0).retriedUnits());
    }
  }

  @Test
  void aLlamaGrpoStepOnSparkEqualsTheInProcessOne() {
    List<List<GrpoStats>> runs = new ArrayList<>();
    for (boolean onSpark : new boolean[] {false, true}) {
      try (LlamaModel sft = TestSpark.tinyLlama(3, false);
          TransformerRewardModel rm = TransformerRewardModel.fromPolicy(sft, 9);
          LlamaModel policy = sft.copy(sft.options());
          SparkRolloutSource src = SparkRolloutSource.builder(spark).partitions(2).build();
          GrpoTrainer t = GrpoTrainer.builder(grpo()).policy(policy).reference(sft).rewardModel(rm)
              .tokenizer(TestSpark.TOK).prompts(TestSpark.prompts())
              .rolloutSource(onSpark ? src : RolloutSource.PER_PROMPT).build()) {
        runs.add(t.train(1));
        if (onSpark) {
          assertTrue(ExecutorModels.built(src.runId(), "policy") >= 1, "the Llama policy was rebuilt on an executor");
        }
      }
    }
    assertSameSteps(runs.get(0), runs.get(1));
    assertTrue(runs.get(0).get(0).get("loss/total_avg") != 0.0);
  }

  @Test
  void aFailedTaskIsRetriedWithoutDuplicatingRollouts() {
    List<GrpoStats> local = train(grpo(), RolloutSource.PER_PROMPT, 2);
    List<SparkRolloutSource.Timings> timings = new ArrayList<>();
    try (SparkRolloutSource src = SparkRolloutSource.builder(spark).partitions(2)
        .taskHook((partition, attempt) -> {
          if (partition == 1 && attempt == 0) {
            throw new IllegalStateException("injected failure of partition 1, attempt 0");
          }
        }).build()) {
      RolloutSource recording = (c, p, g, s) -> {
        var r = src.collect(c, p, g, s);
        timings.add(src.lastTimings());
        return r;
      };
      List<GrpoStats> distributed = train(grpo(), recording, 2);
      assertSameSteps(local, distributed);
      assertEquals(8.0, distributed.get(0).get("episode")); // 4 prompts x 2, not more
    }
    for (SparkRolloutSource.Timings t : timings) {
      assertEquals(2, t.retriedUnits(), "the two groups of partition 1 came from its second attempt: " + t);
    }
  }

  @Test
  void aModelOverTheBroadcastLimitIsRefusedWithItsSize() {
    try (SparkRolloutSource src = SparkRolloutSource.builder(spark).maxBroadcastBytes(10_000).build();
        GptModel probe = TestSpark.tinyModel(3)) {
      long bytes = ModelBytes.parameterBytes(probe);
      RlhfException e = assertThrows(RlhfException.class, () -> train(grpo(), src, 1));
      assertTrue(e.getMessage().contains("the reference is too large to broadcast")
          && e.getMessage().contains(String.format("%,d bytes", bytes))
          && e.getMessage().contains("limit of 10,000 bytes"), e.getMessage());
    }
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> SparkRolloutSource.builder(spark).maxBroadcastBytes(0)).getMessage().contains("maxBroadcastBytes"));
  }

  @Test
  void aRewardModelThatCannotBeBroadcastIsNamed() {
    RewardModel constant = RewardModel.ofTexts(batch -> new double[batch.size()]);
    try (SparkRolloutSource src = SparkRolloutSource.builder(spark).build();
        GptModel sft = TestSpark.tinyModel(3);
        GptModel policy = sft.copy(new ModelOptions(DataType.FLOAT, 2));
        GrpoTrainer t = GrpoTrainer.builder(grpo()).policy(policy).reference(sft).rewardModel(constant)
            .tokenizer(TestSpark.TOK).prompts(TestSpark.prompts()).rolloutSource(src).build()) {
      RlhfException e = assertThrows(RlhfException.class, t::step);
      assertTrue(e.getMessage().contains("needs a TransformerRewardModel"), e.getMessage());
    }
  }
}
