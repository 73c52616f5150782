package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptModel;

/**
 * Per-prompt seeded rollouts ({@link RolloutCollector#collectSeeded}, {@link RolloutSource}): a
 * unit's rows do not depend on the other units, so a trainer's steps are the same whichever source
 * rolls the units out, in whatever order or grouping.
 */
class RolloutSourceTest {
  private static final DigitTokenizer TOK = new DigitTokenizer();

  private static RolloutCollector collector(GptModel policy, GptModel ref) {
    return RolloutCollector.builder().policy(policy).reference(ref).rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK)
        .sampling(GrpoConfig.builder().maxNewTokens(6).build().sampling(DigitTokenizer.EOS)).temperature(1.0)
        .klEstimator(KlEstimator.K1).build();
  }

  private static int[] tokens(Rollout r, int row) {
    int[] out = new int[r.length()[row]];
    for (int t = 0; t < out.length; t++) {
      out[t] = r.sequences().id(row, r.promptLength() + t);
    }
    return out;
  }

  @Test
  void aUnitRollsOutTheSameAloneAsAmongOthers() {
    GptModel ref = PpoTrainerTest.sftModel();
    try (GptModel policy = ref.copy(new ModelOptions(DataType.FLOAT, 2))) {
      RolloutCollector c = collector(policy, ref);
      // units of 2: a 1-token prompt and a 5-token prompt, so the concatenation re-pads the first
      List<int[]> prompts = List.of(new int[] {10, 3}, new int[] {10, 3}, new int[] {10, 1, 2, 3, 4, 5},
          new int[] {10, 1, 2, 3, 4, 5});
      Rollout all = c.collectSeeded(prompts, 2, new long[] {7, 8});
      Rollout first = c.collectSeeded(prompts.subList(0, 2), 2, new long[] {7});
      Rollout second = c.collectSeeded(prompts.subList(2, 4), 2, new long[] {8});
      assertEquals(4, all.batchSize());
      assertEquals(6, all.promptLength());
      assertEquals(2, first.promptLength());
      for (int i = 0; i < 4; i++) {
        Rollout alone = i < 2 ? first : second;
        int j = i % 2;
        assertArrayEquals(tokens(alone, j), tokens(all, i), "row " + i);
        int len = all.length()[i];
        assertArrayEquals(Arrays.copyOf(alone.logProbs()[j], len), Arrays.copyOf(all.logProbs()[i], len));
        assertArrayEquals(Arrays.copyOf(alone.refLogProbs()[j], len), Arrays.copyOf(all.refLogProbs()[i], len));
        assertEquals(alone.scores()[j], all.scores()[i]);
        assertEquals(alone.hasEos()[j], all.hasEos()[i]);
        for (int t = alone.steps(); t < all.steps(); t++) {
          assertEquals(0.0, all.logProbs()[i][t], "padding of row " + i); // beyond the unit's own width
        }
      }
      // the first unit's prompt is left-padded by 4 more positions, masked
      for (int t = 0; t < 4; t++) {
        assertEquals(0, all.sequences().mask(0, t));
        assertEquals(DigitTokenizer.PAD, all.sequences().id(0, t));
      }
      assertEquals(10, all.sequences().id(0, 4));
      // another seed gives another sample (the seeds are used)
      Rollout other = c.collectSeeded(prompts.subList(0, 2), 2, new long[] {9});
      assertNotEquals(Arrays.toString(first.logProbs()[0]) + Arrays.toString(first.logProbs()[1]),
          Arrays.toString(other.logProbs()[0]) + Arrays.toString(other.logProbs()[1]));
    }
  }

  @Test
  void collectSeededRejectsMismatchedSeedsAndGroups() {
    GptModel ref = PpoTrainerTest.sftModel();
    try (GptModel policy = ref.copy(new ModelOptions(DataType.FLOAT, 2))) {
      RolloutCollector c = collector(policy, ref);
      List<int[]> p = List.of(new int[] {10, 1}, new int[] {10, 2}, new int[] {10, 3});
      assertTrue(assertThrows(IllegalArgumentException.class, () -> c.collectSeeded(p, 2, new long[] {1, 2}))
          .getMessage().contains("3 prompts are not a positive multiple of the group size 2"));
      assertTrue(assertThrows(IllegalArgumentException.class, () -> c.collectSeeded(p, 1, new long[] {1}))
          .getMessage().contains("1 seeds for 3 units"));
    }
  }

  @Test
  void groupRolloutOfChecksShapesAndValues() {
    TokenBatch seq = TokenBatch.unpadded(new int[][] {{10, 1, 2}});
    double[][] ok = {{-1, -2}};
    Rollout r = Rollout.of(seq, 1, 2, new int[] {2}, new boolean[] {false}, ok, ok, new double[][] {{0, 0}},
        new double[] {1.5});
    assertEquals(1.5, r.scores()[0]);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Rollout.of(seq, 1, 2, new int[] {2},
        new boolean[] {false}, ok, ok, ok, new double[] {Double.NaN})).getMessage().contains("scores[0] = NaN"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Rollout.of(seq, 1, 2, new int[] {3},
        new boolean[] {false}, ok, ok, ok, new double[] {0})).getMessage().contains("length[0] = 3"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Rollout.of(seq, 1, 2, new int[] {2},
        new boolean[] {false}, new double[][] {{-1}}, ok, ok, new double[] {0})).getMessage().contains("logProbs[0] has 1"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Rollout.of(seq, 2, 2, new int[] {2},
        new boolean[] {false}, ok, ok, ok, new double[] {0})).getMessage().contains("sequences have length 3"));
  }

  /** A source that rolls the units out one by one in reverse order, as a distributed one might. */
  private static final RolloutSource REVERSED = (c, prompts, g, seeds) -> {
    List<Rollout> parts = new ArrayList<>();
    for (int u = seeds.length - 1; u >= 0; u--) {
      parts.add(0, c.collectSeeded(prompts.subList(u * g, (u + 1) * g), g, new long[] {seeds[u]}));
    }
    return Rollout.concat(parts, c.padId());
  };

  @Test
  void aTrainersStepsDoNotDependOnTheRolloutSource() {
    for (GrpoConfig cfg : List.of(
        GrpoConfig.builder().learningRate(3e-3).beta(0.1).numGenerations(4).batchSize(16).miniBatchSize(8)
            .numIterations(2).maxNewTokens(6).seed(3).build(),
        GrpoConfig.rlooBuilder().learningRate(3e-3).beta(0.5).numGenerations(2).batchSize(8).miniBatchSize(8)
            .numIterations(1).maxNewTokens(6).seed(4).build())) {
      List<List<GrpoStats>> runs = new ArrayList<>();
      for (RolloutSource src : List.of(RolloutSource.PER_PROMPT, REVERSED)) {
        GptModel sft = PpoTrainerTest.sftModel();
        try (GrpoTrainer t = GrpoTrainer.builder(cfg).policy(sft.copy(new ModelOptions(DataType.FLOAT, 2))).reference(sft)
            .rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK).prompts(PpoTrainerTest.prompts())
            .rolloutSource(src).build()) {
          runs.add(t.train(3));
        } finally {
          sft.close();
        }
      }
      for (int s = 0; s < 3; s++) {
        for (String k : runs.get(0).get(s).values().keySet()) {
          if (!k.startsWith("time/")) {
            assertEquals(runs.get(0).get(s).get(k), runs.get(1).get(s).get(k), k + " at step " + (s + 1));
          }
        }
      }
      assertTrue(runs.get(0).get(2).get("loss/total_avg") != 0);
    }
  }

  /** {@code steps} PPO steps of a fresh trainer (value head, or a separate critic), rollouts from {@code source} if given. */
  private static List<PpoStats> ppo(boolean critic, RolloutSource source, int steps) {
    GptModel sft = PpoTrainerTest.sftModel();
    try (GptModel policy = critic ? sft.copy(sft.options()) : sft.withNewValueHead();
        GptModel value = critic ? sft.withNewScalarHead(9) : null) {
      PpoTrainer.Builder b = PpoTrainer.builder(PpoTrainerTest.config().rolloutBatchSize(8).ppoEpochs(2).build())
          .policy(policy).reference(sft).rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK)
          .prompts(PpoTrainerTest.prompts());
      if (critic) {
        b.critic(value);
      }
      if (source != null) {
        b.rolloutSource(source);
      }
      try (PpoTrainer t = b.build()) {
        return t.train(steps);
      }
    } finally {
      sft.close();
    }
  }

  private static void assertSameStats(List<PpoStats> a, List<PpoStats> b, boolean equal) {
    boolean allEqual = true;
    for (int s = 0; s < a.size(); s++) {
      assertEquals(a.get(s).values().keySet(), b.get(s).values().keySet());
      for (String k : a.get(s).values().keySet()) {
        if (!k.startsWith("time/")) {
          if (equal) {
            assertEquals(a.get(s).get(k), b.get(s).get(k), k + " at step " + (s + 1));
          } else {
            allEqual &= a.get(s).values().get(k).equals(b.get(s).values().get(k));
          }
        }
      }
    }
    if (!equal) {
      assertTrue(!allEqual, "a per-prompt seeded step should sample other responses than the one-batch step");
    }
  }

  @Test
  void ppoStepsDoNotDependOnTheRolloutSourceWithAValueHeadOrACritic() {
    for (boolean critic : new boolean[] {false, true}) {
      List<PpoStats> perPrompt = ppo(critic, RolloutSource.PER_PROMPT, 2);
      assertSameStats(perPrompt, ppo(critic, REVERSED, 2), true);
      assertTrue(perPrompt.get(1).get("loss/value_avg") != 0 && perPrompt.get(1).get("objective/entropy") > 0,
          perPrompt.get(1).values().toString());
      // without a source the step is one batch from one stream: other samples than the seeded path
      assertSameStats(perPrompt, ppo(critic, null, 2), false);
    }
  }

  @Test
  void aSourceWithoutEntropiesOrValuesIsRefusedByPpo() {
    RolloutSource stripped = (c, prompts, g, seeds) -> {
      Rollout r = c.collectSeeded(prompts, g, seeds);
      return Rollout.builder(r.sequences(), r.promptLength(), r.steps()).length(r.length()).hasEos(r.hasEos())
          .logProbs(r.logProbs()).refLogProbs(r.refLogProbs()).kl(r.kl()).scores(r.scores()).entropy(r.entropy())
          .build();
    };
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> ppo(false, stripped, 1));
    assertTrue(e.getMessage().contains("without values"), e.getMessage());
  }

  @Test
  void rolloutBuilderKeepsEntropiesValuesClampsAndNonFiniteScores() {
    TokenBatch seq = TokenBatch.unpadded(new int[][] {{10, 1, 2}});
    double[][] ok = {{-1, -2}};
    Rollout r = Rollout.builder(seq, 1, 2).length(new int[] {2}).hasEos(new boolean[] {true}).logProbs(ok)
        .refLogProbs(ok).kl(new double[][] {{0, 0}}).scores(new double[] {Double.NaN}).entropy(new double[][] {{0.5, 0.25}})
        .values(new double[][] {{3, 4}}).klClampedTokens(2).build();
    assertTrue(Double.isNaN(r.scores()[0]));
    assertArrayEquals(new double[] {0.5, 0.25}, r.entropy()[0]);
    assertArrayEquals(new double[] {3, 4}, r.values()[0]);
    assertEquals(2, r.klClampedTokens());
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Rollout.builder(seq, 1, 2).length(new int[] {2})
        .hasEos(new boolean[] {true}).logProbs(ok).refLogProbs(ok).kl(ok).scores(new double[] {0})
        .values(new double[][] {{Double.NaN, 0}}).build()).getMessage().contains("values[0][0] = NaN"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Rollout.builder(seq, 1, 2).length(new int[] {2})
        .build()).getMessage().contains("must be set"));
  }
}
