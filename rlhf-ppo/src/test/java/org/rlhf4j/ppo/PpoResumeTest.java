package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ConfigDrift;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.reward.TransformerRewardModel;

/** Resume in one call, config drift named by key, checkpoints that know their kind. */
class PpoResumeTest {
  private static final DigitTokenizer TOK = new DigitTokenizer();

  private static PpoTrainer.Builder builder(PpoConfig cfg, GptModel sft) {
    return PpoTrainer.builder(cfg).reference(sft).rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK).prompts(PpoTrainerTest.prompts());
  }

  @Test
  void resumeFromLoadsThePolicyAndContinuesExactly(@TempDir Path tmp) {
    PpoConfig cfg = PpoTrainerTest.config().adaptiveKl(1.0, 100).build();
    GptModel sft = PpoTrainerTest.sftModel();
    List<PpoStats> straight;
    try (PpoTrainer t = builder(cfg, sft).policy(sft.withNewScalarHead(3)).build()) {
      straight = t.train(4);
    }
    try (PpoTrainer first = builder(cfg, sft).policy(sft.withNewScalarHead(3)).checkpoints(tmp.resolve("run"), 2).build()) {
      first.train(2);
    }
    List<PpoStats> rest;
    try (PpoTrainer resumed = builder(cfg, sft).resumeFrom(tmp.resolve("run")).build()) { // no throwaway policy
      assertEquals(2, resumed.stepCount());
      rest = resumed.train(2);
      resumed.close();
      assertThrows(IllegalStateException.class, () -> resumed.policy().withNewScalarHead(1), "the trainer owns the policy it loaded");
    }
    for (int i = 0; i < 2; i++) {
      for (Map.Entry<String, Double> e : straight.get(2 + i).values().entrySet()) {
        if (!e.getKey().startsWith("time/")) {
          assertEquals(e.getValue(), rest.get(i).get(e.getKey()), 0.0, "step " + (3 + i) + " " + e.getKey());
        }
      }
    }
  }

  @Test
  void aChangedConfigurationIsNamedByItsKeysOnly(@TempDir Path tmp) {
    GptModel sft = PpoTrainerTest.sftModel();
    try (PpoTrainer first = builder(PpoTrainerTest.config().build(), sft).policy(sft.withNewScalarHead(3)).checkpoints(tmp.resolve("run"), 1).build()) {
      first.train(1);
    }
    CheckpointException e = assertThrows(CheckpointException.class,
        () -> builder(PpoTrainerTest.config().learningRate(1e-4).build(), sft).resumeFrom(tmp.resolve("run")).build());
    assertTrue(e.getMessage().endsWith("differs from the checkpoint's: learning_rate: checkpoint 0.003, now 1.0E-4"), e.getMessage());
  }

  @Test
  void aPolicyCheckpointRefusesToLoadAsARewardModel(@TempDir Path tmp) {
    GptModel sft = PpoTrainerTest.sftModel();
    try (PpoTrainer t = builder(PpoTrainerTest.config().build(), sft).policy(sft.withNewScalarHead(3)).build()) {
      PpoCheckpoint.save(tmp.resolve("ppo"), t, null);
    }
    RlhfException e = assertThrows(RlhfException.class, () -> TransformerRewardModel.load(tmp.resolve("ppo/policy"), ModelOptions.defaults()));
    assertTrue(e.getMessage().contains("not a reward model: the checkpoint holds a policy (written by the ppo trainer)"), e.getMessage());
  }

  @Test
  void driftComparesNumbersByValueAndNamesAbsentKeys() {
    assertEquals("", ConfigDrift.describe(Map.of("a", 1, "b", List.of(1, 2)), Map.of("a", 1.0, "b", List.of(1.0, 2L))));
    assertEquals("a: checkpoint 1, now 2; c: checkpoint (absent), now x",
        ConfigDrift.describe(Map.of("a", 1, "b", "y"), Map.of("a", 2, "b", "y", "c", "x")));
  }
}
