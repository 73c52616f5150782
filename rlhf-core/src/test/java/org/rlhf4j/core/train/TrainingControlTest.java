package org.rlhf4j.core.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftResult;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.core.tokenizer.ByteTokenizer;

/** Listeners that stop training, the pre-training phase name, periodic SFT checkpoints. */
class TrainingControlTest {
  private static Metrics m(long step, double v) {
    return Metrics.of("sft", step, Map.of("eval/loss", v));
  }

  @Test
  void earlyStoppingCountsReportsWithoutImprovement() {
    EarlyStopping es = EarlyStopping.minimize("eval/loss", 2).withMinDelta(0.01);
    es.onStart("sft", 10);
    es.onEvaluation(m(1, 3.0));
    es.onEvaluation(m(2, 2.0));
    es.onEvaluation(m(3, 1.995)); // within minDelta: no improvement (1)
    assertFalse(es.stopRequested());
    es.onStep(Metrics.of("sft", 4, Map.of("loss", 9.0))); // other metrics are ignored
    assertFalse(es.stopRequested());
    es.onEvaluation(m(5, Double.NaN)); // (2)
    assertTrue(es.stopRequested());
    assertEquals(5, es.stoppedAt());
    assertEquals(2.0, es.best());
    es.onStart("sft", 10);
    assertFalse(es.stopRequested(), "a new run starts afresh");
    EarlyStopping up = EarlyStopping.maximize("eval/loss", 1);
    up.onEvaluation(m(1, 1));
    up.onEvaluation(m(2, 2));
    assertFalse(up.stopRequested());
    up.onEvaluation(m(3, 2));
    assertTrue(up.stopRequested());
    assertTrue(Listeners.of(new TrainingListener() {}, up).stopRequested(), "any listener can stop a composite");
  }

  @Test
  void aListenerStopsSftAndPretrainingIsItsOwnPhaseWithPeriodicCheckpoints(@TempDir Path tmp) {
    ByteTokenizer tok = ByteTokenizer.create();
    GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(16).heads(2).layers(1).contextLength(16).build();
    SftData corpus = SftData.fromCorpus(tok.encode("to be or not to be, that is the question. ".repeat(8)), 16);
    List<String> seen = new ArrayList<>();
    TrainingListener stopAt3 = new TrainingListener() {
      long step;

      @Override
      public void onStart(String phase, long totalSteps) {
        seen.add("start " + phase + " " + totalSteps);
      }

      @Override
      public void onStep(Metrics metrics) {
        step = metrics.step();
        seen.add(metrics.phase() + " " + metrics.step());
      }

      @Override
      public void onEnd(Metrics summary) {
        seen.add("end " + summary.phase() + " " + summary.step());
      }

      @Override
      public boolean stopRequested() {
        return step == 3;
      }
    };
    try (GptModel model = GptModel.randomInit(cfg, 1, ModelOptions.defaults())) {
      SftResult r = new SftTrainer(SftConfig.builder().learningRate(1e-3).maxSteps(10).batchSize(4).build())
          .withPhase(SftTrainer.PRETRAIN_PHASE).withListener(stopAt3).withCheckpoints(tmp.resolve("ckpt"), 2).train(model, corpus);
      assertEquals(3, r.steps());
      assertEquals(List.of("start pretrain 10", "pretrain 1", "pretrain 2", "pretrain 3", "end pretrain 3"), seen);
      ModelCheckpoint.Loaded saved = ModelCheckpoint.load(tmp.resolve("ckpt"), ModelOptions.defaults());
      try (GptModel m = saved.model()) {
        assertEquals("pretrain", saved.extra().get("kind"));
        assertEquals(2, ((Number) saved.extra().get("step")).intValue(), "the latest checkpoint is from step 2");
        assertEquals("pretrain", saved.provenance().trainer());
      }
    }
  }
}
