package org.rlhf4j.reward;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.data.Ranking;

/** A listener stops reward training; periodic checkpoints; the no-null overloads. */
class RewardTrainingControlTest {
  @Test
  void aListenerStopsTrainingAndCheckpointsAreWritten(@TempDir Path tmp) {
    ByteTokenizer tok = ByteTokenizer.create();
    GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(16).heads(2).layers(1).contextLength(24).build();
    List<Ranking> prefs = IntStream.range(0, 32).mapToObj(i -> Ranking.pairwise("q" + i, "yes", "NO")).toList();
    TrainingListener stopAt5 = new TrainingListener() {
      long step;

      @Override
      public void onStep(Metrics m) {
        step = m.step();
      }

      @Override
      public boolean stopRequested() {
        return step == 5;
      }
    };
    try (GptModel base = GptModel.randomInit(cfg, 1, ModelOptions.defaults());
        TransformerRewardModel rm = TransformerRewardModel.fromPolicy(base, 2)) {
      RewardResult r = new RewardTrainer(RewardConfig.builder().learningRate(1e-3).promptsPerBatch(2).build())
          .withListener(stopAt5).withCheckpoints(tmp.resolve("rm"), 4).train(rm, tok, prefs);
      assertEquals(5, r.steps(), "16 planned steps, stopped at 5");
      ModelCheckpoint.Loaded saved = ModelCheckpoint.load(tmp.resolve("rm"), ModelOptions.defaults());
      try (GptModel m = saved.model()) {
        assertEquals("reward", saved.provenance().trainer());
        assertEquals("reward_model", saved.extra().get("kind"));
      }
    }
  }
}
