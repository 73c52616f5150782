package org.rlhf4j.reward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.TrainerCheckpoint;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.data.Ranking;

/**
 * Exact resume of reward training: 10 steps straight vs. 6, a checkpoint, a fresh reward model and
 * trainer restored from it, and 4 more (across an epoch boundary, with a held-out split drawn from
 * the same seed) give bit-identical metrics, evaluations and weights; an SFT checkpoint is refused.
 */
class RewardResumeTest {
  private static final ByteTokenizer TOK = ByteTokenizer.create();
  private static final GptConfig CFG =
      GptConfig.builder().vocabSize(TOK.vocabSize()).dModel(16).heads(2).layers(1).contextLength(24).build();
  private static final List<Ranking> PREFS =
      IntStream.range(0, 20).mapToObj(i -> Ranking.pairwise("q" + i, "yes " + i, "NO")).toList();

  private static RewardConfig config(int epochs) {
    // 20 rankings, 4 held out, 16 trained in batches of 4: 4 steps per epoch
    return RewardConfig.builder().learningRate(1e-3).warmupSteps(1).epochs(epochs).promptsPerBatch(4).evalFraction(0.2).evalEvery(3).seed(5).build();
  }

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
      seen.add("step " + m.step() + " " + m.values());
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

  private static TransformerRewardModel fresh(long seed) {
    try (GptModel base = GptModel.randomInit(CFG, seed, ModelOptions.defaults())) {
      return TransformerRewardModel.fromPolicy(base, seed + 1);
    }
  }

  private static double[] weights(TransformerRewardModel rm) {
    return rm.model().parameters().flat().array().dup().ravel().toDoubleVector();
  }

  @Test
  void resumingIsBitIdenticalToTheUninterruptedRun(@TempDir Path tmp) {
    Recorder straight = new Recorder(0);
    double[] expected;
    RewardResult full;
    try (TransformerRewardModel rm = fresh(1)) {
      full = new RewardTrainer(config(3)).withListener(straight).train(rm, TOK, PREFS);
      expected = weights(rm);
    }
    assertEquals(12, full.steps());
    Path dir = tmp.resolve("rm");
    Recorder first = new Recorder(6);
    try (TransformerRewardModel rm = fresh(1)) {
      assertEquals(6, new RewardTrainer(config(3)).withListener(first).withCheckpoints(dir, 3).train(rm, TOK, PREFS).steps());
    }
    assertEquals(TransformerRewardModel.KIND, TrainerCheckpoint.kind(dir));
    Recorder second = new Recorder(0);
    RewardResult resumed;
    double[] got;
    try (TransformerRewardModel rm = fresh(42)) {
      resumed = new RewardTrainer(config(3)).withListener(second).resumeFrom(dir).train(rm, TOK, PREFS);
      got = weights(rm);
    }
    // the stopped run: steps 1..6 with the evaluations of the straight run (eval 6 included), then its final evaluation
    List<String> beforeStop = first.seen.subList(0, first.seen.size() - 1);
    int cut = beforeStop.size();
    assertTrue(beforeStop.get(cut - 1).startsWith("eval 6 ") && beforeStop.get(cut - 2).startsWith("step 6 "), beforeStop.toString());
    assertEquals(straight.seen.subList(0, cut), beforeStop);
    assertEquals(straight.seen.subList(cut, straight.seen.size()), second.seen);
    assertTrue(second.seen.get(0).startsWith("step 7 "), second.seen.get(0));
    assertArrayEquals(expected, got, "final weights bit-identical");
    assertEquals(full.finalLoss(), resumed.finalLoss());
    // the periodic checkpoint still loads as a reward model
    try (TransformerRewardModel loaded = TransformerRewardModel.load(dir, ModelOptions.defaults())) {
      assertEquals(1.0, loaded.gain());
    }
  }

  @Test
  void driftAndAnotherTrainersCheckpointAreRefused(@TempDir Path tmp) {
    Path dir = tmp.resolve("rm");
    try (TransformerRewardModel rm = fresh(1)) {
      new RewardTrainer(config(3)).withListener(new Recorder(3)).withCheckpoints(dir, 3).train(rm, TOK, PREFS);
      CheckpointException drift =
          assertThrows(CheckpointException.class, () -> new RewardTrainer(config(4)).resumeFrom(dir).train(rm, TOK, PREFS));
      assertTrue(drift.getMessage().endsWith("differs from the checkpoint's: num_train_epochs: checkpoint 3, now 4"), drift.getMessage());
    }
    Path sft = tmp.resolve("sft");
    SftData corpus = SftData.fromCorpus(TOK.encode("yes yes yes no no no ".repeat(4)), 24);
    try (GptModel policy = GptModel.randomInit(CFG, 3, ModelOptions.defaults())) {
      new SftTrainer(SftConfig.builder().maxSteps(2).batchSize(2).build()).withCheckpoints(sft, 2).train(policy, corpus);
    }
    try (TransformerRewardModel rm = fresh(1)) {
      CheckpointException kind =
          assertThrows(CheckpointException.class, () -> new RewardTrainer(config(3)).resumeFrom(sft).train(rm, TOK, PREFS));
      assertTrue(kind.getMessage().contains("the checkpoint is of a sft trainer, not reward_model"), kind.getMessage());
    }
  }
}
