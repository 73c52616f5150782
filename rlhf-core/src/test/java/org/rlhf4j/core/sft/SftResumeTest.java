package org.rlhf4j.core.sft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.optim.LrSchedule;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.TrainerCheckpoint;
import org.rlhf4j.core.train.TrainingListener;

/**
 * Exact resume of SFT: 12 steps straight vs. 8 steps, a checkpoint, a fresh model and trainer
 * restored from it, and 4 more steps give bit-identical step metrics, evaluations and weights
 * (across an epoch boundary, with a decaying learning rate and weight decay).
 */
class SftResumeTest {
  private static final ByteTokenizer TOK = ByteTokenizer.create();
  private static final GptConfig CFG =
      GptConfig.builder().vocabSize(TOK.vocabSize()).dModel(16).heads(2).layers(1).contextLength(16).build();
  private static final SftData TRAIN =
      SftData.fromCorpus(TOK.encode("to be or not to be, that is the question. ".repeat(4)), 16); // 10 windows: 3 steps per epoch
  private static final SftData EVAL = SftData.fromCorpus(TOK.encode("whether tis nobler in the mind to suffer"), 16);

  private static SftConfig config(double lr) {
    return SftConfig.builder().learningRate(lr).warmupSteps(2).maxSteps(12).batchSize(4).weightDecay(0.01).evalEvery(3).seed(7).build();
  }

  /** Records every metric except the timing-dependent ones; stops after {@code stopAt} steps (0: never). */
  private static final class Recorder implements TrainingListener {
    final List<String> seen = new ArrayList<>();
    final long stopAt;
    long step;

    Recorder(long stopAt) {
      this.stopAt = stopAt;
    }

    @Override
    public void onStep(Metrics m) {
      step = m.step();
      Map<String, Double> v = new LinkedHashMap<>(m.values());
      v.remove("tokens_per_second");
      seen.add("step " + m.step() + " " + v);
    }

    @Override
    public void onEvaluation(Metrics m) {
      seen.add("eval " + m.step() + " " + m.values());
    }

    @Override
    public boolean stopRequested() {
      return step == stopAt;
    }
  }

  private static double[] weights(GptModel m) {
    return m.parameters().flat().array().dup().ravel().toDoubleVector();
  }

  @Test
  void resumingFromACheckpointIsBitIdenticalToTheUninterruptedRun(@TempDir Path tmp) {
    Recorder straight = new Recorder(0);
    double[] expected;
    SftResult full;
    try (GptModel model = GptModel.randomInit(CFG, 1, ModelOptions.defaults())) {
      full = new SftTrainer(config(3e-3)).withListener(straight).train(model, TRAIN, EVAL);
      expected = weights(model);
    }
    Path dir = tmp.resolve("ckpt");
    Recorder first = new Recorder(8);
    try (GptModel model = GptModel.randomInit(CFG, 1, ModelOptions.defaults())) {
      assertEquals(8, new SftTrainer(config(3e-3)).withListener(first).withCheckpoints(dir, 4).train(model, TRAIN, EVAL).steps());
    }
    assertTrue(TrainerCheckpoint.isTrainerCheckpoint(dir));
    assertEquals("sft", TrainerCheckpoint.kind(dir));
    Recorder second = new Recorder(0);
    SftResult resumed;
    double[] got;
    try (GptModel other = GptModel.randomInit(CFG, 99, ModelOptions.defaults())) { // weights come from the checkpoint
      resumed = new SftTrainer(config(3e-3)).withListener(second).resumeFrom(dir).train(other, TRAIN, EVAL);
      got = weights(other);
    }
    assertEquals(12, resumed.steps());
    assertFalse(resumed.initialEval().isPresent(), "the evaluation before training is not repeated");
    String step8 = first.seen.get(first.seen.size() - 2); // the last is the final evaluation of the stopped run
    assertTrue(step8.startsWith("step 8 "), step8);
    int cut = straight.seen.indexOf(step8) + 1;
    assertEquals(straight.seen.subList(0, cut), first.seen.subList(0, first.seen.size() - 1), "the first half is the uninterrupted run's");
    assertEquals(straight.seen.subList(cut, straight.seen.size()), second.seen);
    assertTrue(second.seen.get(0).startsWith("step 9 "), second.seen.get(0));
    assertArrayEquals(expected, got, "final weights bit-identical");
    assertEquals(full.tokens(), resumed.tokens());
    assertEquals(full.finalLoss(), resumed.finalLoss());
    assertEquals(full.finalEval(), resumed.finalEval());
    // the periodic checkpoint still loads as a model
    ModelCheckpoint.Loaded loaded = ModelCheckpoint.load(dir, ModelOptions.defaults());
    try (GptModel m = loaded.model()) {
      assertEquals(8, ((Number) loaded.extra().get("step")).intValue());
    }
  }

  @Test
  void aChangedConfigurationNamesOnlyTheDifferingKeysAndAnotherKindIsRefused(@TempDir Path tmp) {
    Path dir = tmp.resolve("ckpt");
    try (GptModel model = GptModel.randomInit(CFG, 1, ModelOptions.defaults())) {
      new SftTrainer(config(3e-3)).withListener(new Recorder(4)).withCheckpoints(dir, 4).train(model, TRAIN);
      CheckpointException drift =
          assertThrows(CheckpointException.class, () -> new SftTrainer(config(1e-3)).resumeFrom(dir).train(model, TRAIN));
      assertTrue(drift.getMessage().endsWith("differs from the checkpoint's: learning_rate: checkpoint 0.003, now 0.001"), drift.getMessage());
      CheckpointException kind =
          assertThrows(
              CheckpointException.class,
              () -> new SftTrainer(config(3e-3)).withPhase(SftTrainer.PRETRAIN_PHASE).resumeFrom(dir).train(model, TRAIN));
      assertTrue(kind.getMessage().contains("the checkpoint is of a sft trainer, not pretrain"), kind.getMessage());
      SftData fewer = SftData.fromCorpus(TOK.encode("to be or not to be, that is the question. ".repeat(3)), 16);
      CheckpointException data =
          assertThrows(CheckpointException.class, () -> new SftTrainer(config(3e-3)).resumeFrom(dir).train(model, fewer));
      assertTrue(data.getMessage().contains("trained on 10 items, the data given now has 7"), data.getMessage());
      Path modelOnly = tmp.resolve("model");
      ModelCheckpoint.save(modelOnly, model, org.rlhf4j.core.io.Provenance.of("sft", 7, Map.of(), null), Map.of(), null);
      CheckpointException notResumable =
          assertThrows(CheckpointException.class, () -> new SftTrainer(config(3e-3)).resumeFrom(modelOnly).train(model, TRAIN));
      assertTrue(notResumable.getMessage().contains("not a resumable sft checkpoint"), notResumable.getMessage());
    }
  }

  @Test
  void aNonFiniteStateIsNotCheckpointedAndThePreviousOneIsKept(@TempDir Path tmp) {
    Path dir = tmp.resolve("ckpt");
    try (GptModel model = GptModel.randomInit(CFG, 1, ModelOptions.defaults())) {
      TrainingListener poison =
          new TrainingListener() {
            @Override
            public void onStep(Metrics m) {
              if (m.step() == 4) {
                model.parameters().flat().array().putScalar(3, Double.NaN); // after step 4, before its checkpoint
              }
            }
          };
      CheckpointException e =
          assertThrows(
              CheckpointException.class,
              () -> new SftTrainer(config(3e-3)).withListener(poison).withCheckpoints(dir, 2).train(model, TRAIN));
      assertTrue(e.getMessage().contains("(the previous one is kept): model 0 parameter "), e.getMessage());
      assertTrue(e.getMessage().endsWith("[3] is NaN"), e.getMessage());
    }
    ModelCheckpoint.Loaded kept = ModelCheckpoint.load(dir, ModelOptions.defaults());
    try (GptModel m = kept.model()) {
      assertEquals(2, ((Number) kept.extra().get("step")).intValue(), "the checkpoint of step 2 is kept");
    }
  }
}
