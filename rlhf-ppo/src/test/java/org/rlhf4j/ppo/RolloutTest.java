package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.reward.RewardModel;

/** The immutable rollout the RL trainers share, as {@link RolloutCollector} produces it. */
class RolloutTest {
  private static final DigitTokenizer TOK = new DigitTokenizer();

  /** Scores 1, NaN, 3, ... so that a trainer must decide about the non-finite one. */
  private static final RewardModel HOLE = new RewardModel() {
    @Override
    public INDArray score(TokenBatch sequences) {
      double[] s = new double[sequences.batchSize()];
      for (int i = 0; i < s.length; i++) {
        s[i] = i == 1 ? Double.NaN : i + 1;
      }
      return Nd4j.createFromArray(s);
    }
  };

  private static RolloutCollector.Builder collector(GptModel policy, GptModel ref) {
    return RolloutCollector.builder().policy(policy).reference(ref).rewardModel(HOLE).tokenizer(TOK)
        .sampling(PpoConfig.builder().maxNewTokens(5).build().sampling(DigitTokenizer.EOS));
  }

  @Test
  void valuesComeFromTheSameForwardPassAndCopiesProtectTheRollout() {
    GptModel ref = PpoTrainerTest.sftModel();
    GptModel policy = ref.withNewValueHead();
    List<int[]> prompts = List.of(new int[] {10, 1}, new int[] {10, 2, 3}, new int[] {10, 4});
    Rollout r = collector(policy, ref).values(policy).build().collect(prompts, new SplittableRandom(3));
    assertEquals(3, r.batchSize());
    assertTrue(r.hasValues() && r.hasEntropy());
    double[][] expected = ResponseTokens.gather(policy.forward(r.sequences()).values(), r.promptLength(), r.steps());
    for (int i = 0; i < 3; i++) {
      for (int t = 0; t < r.length()[i]; t++) {
        assertEquals(expected[i][t], r.values()[i][t], 0.0);
      }
    }
    double[][] lp = r.logProbs();
    lp[0][0] = 42;
    assertTrue(r.logProbs()[0][0] != 42, "accessors return copies");
    assertArrayEquals(new int[] {0, 2}, r.finiteRows());
    Rollout kept = r.select(r.finiteRows());
    assertArrayEquals(new double[] {1, 3}, kept.scores());
    assertArrayEquals(new int[] {0, 2}, kept.promptIndex());
    assertArrayEquals(r.response(2), kept.response(1));
    assertThrows(IllegalArgumentException.class, () -> r.select(new int[] {3}));
  }

  @Test
  void withoutValuesTheAccessorSaysSo() {
    GptModel ref = PpoTrainerTest.sftModel();
    GptModel policy = ref.copy(ref.options());
    Rollout r = collector(policy, ref).build().collect(List.of(new int[] {10, 1}), new SplittableRandom(1));
    assertFalse(r.hasValues());
    IllegalStateException e = assertThrows(IllegalStateException.class, r::values);
    assertTrue(e.getMessage().contains("without values"), e.getMessage());
    IllegalArgumentException same = assertThrows(IllegalArgumentException.class, () -> collector(ref, ref).build());
    assertTrue(same.getMessage().contains("same model"), same.getMessage());
    IllegalArgumentException noHead = assertThrows(IllegalArgumentException.class, () -> collector(policy, ref).values(policy).build());
    assertTrue(noHead.getMessage().contains("no scalar head"), noHead.getMessage());
  }

  @Test
  void concatKeepsEntropiesOnlyWhenEveryPartHasThem() {
    GptModel ref = PpoTrainerTest.sftModel();
    GptModel policy = ref.copy(ref.options());
    RolloutCollector c = collector(policy, ref).build();
    Rollout a = c.collect(List.of(new int[] {10, 1}), new SplittableRandom(1));
    Rollout b = c.collect(List.of(new int[] {10, 1, 2, 3}), new SplittableRandom(2));
    Rollout both = Rollout.concat(List.of(a, b), DigitTokenizer.PAD);
    assertTrue(both.hasEntropy());
    assertArrayEquals(new int[] {0, 1}, both.promptIndex());
    assertEquals(a.entropy()[0][0], both.entropy()[0][0], 0.0);
    Rollout parts = Rollout.of(a.sequences(), a.promptLength(), a.steps(), a.length(), a.hasEos(), a.logProbs(), a.refLogProbs(),
        a.kl(), a.scores());
    assertFalse(Rollout.concat(List.of(parts, b), DigitTokenizer.PAD).hasEntropy());
    assertThrows(IllegalStateException.class, parts::entropy);
  }
}
