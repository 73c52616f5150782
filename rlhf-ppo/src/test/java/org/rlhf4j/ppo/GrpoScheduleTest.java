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

/** GRPO and RLOO take the schedules every trainer has: constant, linear and cosine, after a warm-up. */
class GrpoScheduleTest {
  @Test
  void theConstantDefaultKeepsItsConfigurationKeysAndADecayNeedsItsLength() {
    GrpoConfig c = GrpoConfig.builder().build();
    assertEquals(LrSchedule.constant(1e-5).toMap(), c.optimizer().schedule().toMap());
    assertFalse(c.toMap().containsKey("lr_schedule_steps"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> GrpoConfig.builder().schedule(TrainingArguments.Schedule.COSINE).build());
    assertEquals("scheduleSteps (the optimiser steps a cosine schedule decays over) must be >= 1, got 0", e.getMessage());
    GrpoConfig cos = GrpoConfig.rlooBuilder().schedule(TrainingArguments.Schedule.COSINE).warmupSteps(2).scheduleSteps(50).build();
    assertEquals(LrSchedule.cosine(1e-5, 2, 50, TrainingArguments.COSINE_MIN_RATIO).toMap(), cos.optimizer().schedule().toMap());
    assertEquals(50L, cos.toMap().get("lr_schedule_steps"));
    assertEquals("cosine", cos.toMap().get("lr_scheduler_type"));
  }

  @Test
  void aLinearScheduleDecaysOverOptimiserSteps() {
    // 16 completions in minibatches of 8, 2 iterations: 4 optimiser steps per GRPO step
    GrpoConfig cfg = GrpoConfig.builder().learningRate(3e-3).numGenerations(4).batchSize(16).miniBatchSize(8).numIterations(2)
        .maxNewTokens(4).schedule(TrainingArguments.Schedule.LINEAR).warmupSteps(1).scheduleSteps(12).seed(2).build();
    GptModel sft = PpoTrainerTest.sftModel();
    try (GrpoTrainer t = GrpoTrainerTest.trainer(cfg, sft)) {
      List<GrpoStats> stats = t.train(2);
      LrSchedule s = cfg.optimizer().schedule();
      assertEquals(s.lr(4), stats.get(0).get("lr"));
      assertEquals(s.lr(8), stats.get(1).get("lr"));
      assertEquals(3e-3 * (1 - 6.0 / 11), stats.get(1).get("lr"), 1e-12);
      assertTrue(stats.get(1).get("lr") < stats.get(0).get("lr"));
    } finally {
      sft.close();
    }
  }
}
