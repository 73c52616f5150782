package org.rlhf4j.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;
import org.rlhf4j.ppo.RolloutSource;
import org.rlhf4j.reward.TransformerRewardModel;

/**
 * PPO steps with rollouts on Spark ({@code local[2,3]}) equal the in-process per-prompt ones
 * ({@link RolloutSource#PER_PROMPT}) in every statistic, with the policy's value head and with a
 * separate critic (broadcast every step with the policy).
 */
class SparkPpoTest {
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = TestSpark.session();
  }

  private static PpoConfig config() {
    return PpoConfig.builder().learningRate(3e-3).rolloutBatchSize(6).miniBatchSize(3).ppoEpochs(2).maxNewTokens(5)
        .klCoef(0.05).vfCoef(0.1).seed(13).build();
  }

  /** {@code steps} PPO steps of a fresh trainer from the same models, its rollouts from {@code source}. */
  private static List<PpoStats> train(boolean withCritic, RolloutSource source, int steps) {
    try (GptModel sft = TestSpark.tinyModel(3);
        TransformerRewardModel rm = TransformerRewardModel.fromPolicy(TestSpark.tinyModel(4), 9);
        GptModel policy = withCritic ? sft.copy(sft.options()) : sft.withNewValueHead();
        GptModel critic = withCritic ? sft.withNewScalarHead(7) : null) {
      PpoTrainer.Builder b = PpoTrainer.builder(config()).policy(policy).reference(sft).rewardModel(rm)
          .tokenizer(TestSpark.TOK).prompts(TestSpark.prompts()).rolloutSource(source);
      if (withCritic) {
        b.critic(critic);
      }
      try (PpoTrainer t = b.build()) {
        return t.train(steps);
      }
    }
  }

  @Test
  void sparkPpoStepsEqualTheInProcessPerPromptOnes() {
    for (boolean withCritic : new boolean[] {false, true}) {
      List<PpoStats> local = train(withCritic, RolloutSource.PER_PROMPT, 2);
      List<SparkRolloutSource.Timings> timings = new ArrayList<>();
      List<PpoStats> distributed;
      try (SparkRolloutSource src = SparkRolloutSource.builder(spark).partitions(2).build()) {
        RolloutSource recording = (c, p, g, s) -> {
          var r = src.collect(c, p, g, s);
          timings.add(src.lastTimings());
          return r;
        };
        distributed = train(withCritic, recording, 2);
        long critics = ExecutorModels.built(src.runId(), "critic");
        if (withCritic) { // one critic per step and task slot: rebuilt every step as the policy
          assertTrue(critics >= 2 && critics <= 4, critics + " critic copies for 2 versions; " + timings);
        } else {
          assertEquals(0, critics, "the value head travels with the policy");
        }
      }
      String what = withCritic ? "with a critic" : "with a value head";
      for (int s = 0; s < local.size(); s++) {
        Map<String, Double> e = local.get(s).values();
        assertEquals(e.keySet(), distributed.get(s).values().keySet(), what);
        for (String k : e.keySet()) {
          if (!k.startsWith("time/")) {
            assertEquals(e.get(k), distributed.get(s).get(k), k + " at step " + (s + 1) + " " + what);
          }
        }
      }
      // the step learned something from values and entropies that came back from the executors
      assertTrue(local.get(1).get("loss/value_avg") != 0 && local.get(1).get("objective/entropy") > 0, what);
      assertTrue(timings.get(1).broadcastBytes() < timings.get(0).broadcastBytes(), timings.toString());
    }
  }
}
