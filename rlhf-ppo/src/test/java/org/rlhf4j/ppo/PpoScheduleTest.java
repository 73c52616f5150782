package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.optim.LrSchedule;
import org.rlhf4j.core.train.TrainingArguments;

/** PPO takes the shared training arguments, with every learning-rate schedule counted in optimiser steps. */
class PpoScheduleTest {
  @Test
  void theDefaultConstantRateKeepsTheConfigurationKeysOfEarlierCheckpoints() {
    PpoConfig c = PpoConfig.builder().build();
    assertEquals(TrainingArguments.Schedule.CONSTANT, c.training().schedule());
    assertFalse(c.toMap().containsKey("lr_scheduler_type"));
    assertFalse(c.toMap().containsKey("warmup_steps"));
    assertEquals(LrSchedule.constant(1e-5).toMap(), c.optimizer().schedule().toMap());
    assertEquals(16, c.training().batchSize(), "the rollout batch size");
  }

  @Test
  void trainingArgumentsSetTheSharedFieldsAndALinearScheduleNeedsItsLength() {
    TrainingArguments args =
        TrainingArguments.builder().learningRate(1e-4).schedule(TrainingArguments.Schedule.COSINE).warmupSteps(4).weightDecay(0.01)
            .maxGradNorm(0.5).seed(3).batchSize(8).build();
    PpoConfig c = PpoConfig.builder().training(args).miniBatchSize(4).scheduleSteps(100).build();
    assertEquals(args, c.training());
    assertEquals(8, c.rolloutBatchSize());
    assertEquals(3, c.seed());
    assertEquals("cosine", c.toMap().get("lr_scheduler_type"));
    assertEquals(100L, c.toMap().get("lr_schedule_steps"));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> PpoConfig.builder().training(args).miniBatchSize(4).build());
    assertEquals("scheduleSteps (the optimiser steps a cosine schedule decays over) must be >= 1, got 0", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> PpoConfig.builder().training(args.toBuilder().evalEvery(5).build()));
  }

  @Test
  void aLinearScheduleDecaysOverOptimiserSteps() {
    // 16 rollouts in minibatches of 8 for 4 epochs: 8 optimiser steps per PPO step
    PpoConfig cfg = PpoTrainerTest.config().schedule(TrainingArguments.Schedule.LINEAR).scheduleSteps(24).build();
    GptModel sft = PpoTrainerTest.sftModel();
    try (PpoTrainer t = PpoTrainerTest.trainer(cfg, sft)) {
      List<PpoStats> stats = t.train(2);
      LrSchedule s = cfg.optimizer().schedule();
      assertEquals(s.lr(8), stats.get(0).get("lr"));
      assertEquals(s.lr(16), stats.get(1).get("lr"));
      assertEquals(3e-3 * (1 - 15.0 / 24), stats.get(1).get("lr"), 1e-12);
      assertTrue(stats.get(1).get("lr") < stats.get(0).get("lr"));
    } finally {
      sft.close();
    }
  }
}
