package org.rlhf4j.core.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.sft.SftConfig;

/** The shared training arguments: schedules, validation, TRL names, and their embedding in SftConfig. */
class TrainingArgumentsTest {
  @Test
  void everyScheduleWarmsUpThenDecaysAsHuggingFaceDoes() {
    TrainingArguments.Builder b = TrainingArguments.builder().learningRate(1e-3).warmupSteps(2);
    // steps count from 1; the first warm-up step has rate 0 (Hugging Face's lr_lambda(0))
    AdamWConfig constant = b.schedule(TrainingArguments.Schedule.CONSTANT).build().optimizer(10);
    assertEquals(0.0, constant.schedule().lr(1));
    assertEquals(5e-4, constant.schedule().lr(2));
    assertEquals(1e-3, constant.schedule().lr(10));
    AdamWConfig linear = b.schedule(TrainingArguments.Schedule.LINEAR).build().optimizer(10);
    assertEquals(1e-3, linear.schedule().lr(3));
    assertEquals(1e-3 * 4 / 8, linear.schedule().lr(7), 1e-15);
    AdamWConfig cosine = b.schedule(TrainingArguments.Schedule.COSINE).build().optimizer(10);
    assertEquals(1e-3, cosine.schedule().lr(3));
    // halfway through the decay: floor + (1 - floor) * 0.5
    assertEquals(1e-3 * (0.1 + 0.9 * 0.5), cosine.schedule().lr(7), 1e-15);
  }

  @Test
  void invalidArgumentsNameTheField() {
    assertEquals(
        "learningRate must be positive, got NaN",
        assertThrows(IllegalArgumentException.class, () -> TrainingArguments.builder().learningRate(Double.NaN).build()).getMessage());
    assertEquals(
        "batchSize must be >= 1, got 0",
        assertThrows(IllegalArgumentException.class, () -> TrainingArguments.builder().batchSize(0).build()).getMessage());
    assertEquals(
        "batchSize must be >= 1, got 0",
        assertThrows(IllegalArgumentException.class, () -> SftConfig.builder().batchSize(0).build()).getMessage());
  }

  @Test
  void sftConfigEmbedsTheArgumentsWithItsOwnDefaultsAndStableKeys() {
    SftConfig d = SftConfig.builder().build();
    assertEquals(
        TrainingArguments.builder().learningRate(2e-5).schedule(TrainingArguments.Schedule.LINEAR).batchSize(8).seed(42).build(),
        d.training());
    TrainingArguments args =
        TrainingArguments.builder().learningRate(3e-4).schedule(TrainingArguments.Schedule.COSINE).warmupSteps(5).weightDecay(0.1)
            .maxGradNorm(0.5).seed(7).batchSize(16).evalEvery(50).build();
    SftConfig c = SftConfig.builder().training(args).maxSteps(100).build();
    assertEquals(args, c.training());
    assertEquals(16, c.batchSize());
    assertEquals(7, c.seed());
    Map<String, Object> expected = new LinkedHashMap<>();
    args.putInto(expected, "per_device_train_batch_size");
    for (Map.Entry<String, Object> e : expected.entrySet()) {
      assertEquals(e.getValue(), c.toMap().get(e.getKey()), e.getKey());
    }
    assertEquals("cosine", c.toMap().get("lr_scheduler_type"));
    // a setter after training(...) changes one argument
    assertEquals(1e-4, SftConfig.builder().training(args).learningRate(1e-4).build().training().learningRate());
    assertTrue(c.optimizer(100).schedule().lr(100) < 3e-4);
  }
}
