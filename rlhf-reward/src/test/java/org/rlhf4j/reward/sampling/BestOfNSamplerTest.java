package org.rlhf4j.reward.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.reward.RewardModel;
import org.rlhf4j.reward.sampling.BestOfNSampler.Candidates;

class BestOfNSamplerTest {
  private static final ByteTokenizer TOK = ByteTokenizer.create();

  /** Scores a response by how many of its tokens are below 128 (ASCII bytes). */
  static final class AsciiCount implements RewardModel {
    @Override
    public INDArray score(TokenBatch s) {
      return score(s, 0);
    }

    @Override
    public INDArray score(TokenBatch s, int start) {
      double[] out = new double[s.batchSize()];
      for (int b = 0; b < s.batchSize(); b++) {
        for (int t = start; t < s.length(); t++) {
          if (s.mask(b, t) != 0 && s.id(b, t) < 128) {
            out[b]++;
          }
        }
      }
      return Nd4j.createFromArray(out);
    }
  }

  private static BestOfNSampler sampler(RewardModel rm) {
    GptConfig c = GptConfig.builder().vocabSize(TOK.vocabSize()).dModel(16).heads(2).layers(1).contextLength(32).build();
    GptModel m = GptModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, 1));
    SamplingConfig s = SamplingConfig.builder().temperature(1.0).maxNewTokens(8).build();
    return BestOfNSampler.builder(m, rm, TOK).sampling(s).batchSize(5).build();
  }

  @Test
  void keepsTheHighestScoredOfTheFirstK() {
    List<String> prompts = List.of("ab", "hello", "x", "the film");
    List<Candidates> c = sampler(new AsciiCount()).sample(prompts, 8, 3);
    assertEquals(4, c.size());
    double meanBest1 = 0;
    double meanBest8 = 0;
    for (int i = 0; i < c.size(); i++) {
      Candidates k = c.get(i);
      assertEquals(prompts.get(i), k.prompt());
      assertEquals(8, k.n());
      for (int n = 1; n <= 8; n++) {
        int best = k.bestOf(n);
        assertTrue(best < n);
        for (int j = 0; j < n; j++) {
          assertTrue(k.scores()[j] <= k.scores()[best]);
        }
      }
      // The sequences are BOS + prompt + response, and the scores are the rule's on the response.
      int[] prompt = TOK.encodePrompt(prompts.get(i), true);
      for (int j = 0; j < 8; j++) {
        int[] seq = k.sequences().get(j);
        assertArrayEquals(prompt, java.util.Arrays.copyOf(seq, prompt.length));
        int ascii = 0;
        for (int t = prompt.length; t < seq.length; t++) {
          ascii += seq[t] < 128 ? 1 : 0;
        }
        assertEquals(ascii, k.scores()[j], 0.0);
        assertEquals(TOK.decode(java.util.Arrays.copyOfRange(seq, prompt.length, seq.length)), k.responses().get(j));
      }
      assertEquals(k.responses().get(k.bestOf(8)), k.best());
      meanBest1 += k.scores()[k.bestOf(1)];
      meanBest8 += k.scores()[k.bestOf(8)];
    }
    assertTrue(meanBest8 > meanBest1, "best of 8 beats a single sample: " + meanBest8 + " vs " + meanBest1);
  }

  @Test
  void seededAndBatchIndependentOfN() {
    BestOfNSampler s = sampler(new AsciiCount());
    List<Candidates> a = s.sample(List.of("ab", "cd"), 4, 11);
    List<Candidates> b = s.sample(List.of("ab", "cd"), 4, 11);
    for (int i = 0; i < 2; i++) {
      assertEquals(a.get(i).responses(), b.get(i).responses());
      assertArrayEquals(a.get(i).scores(), b.get(i).scores());
    }
    assertEquals(s.best(List.of("ab", "cd"), 4, 11), List.of(a.get(0).best(), a.get(1).best()));
  }

  @Test
  void analyticKl() {
    assertEquals(0.0, BestOfNSampler.analyticKl(1), 0.0);
    assertEquals(Math.log(2) - 0.5, BestOfNSampler.analyticKl(2), 1e-15);
    assertEquals(Math.log(16) - 15.0 / 16, BestOfNSampler.analyticKl(16), 1e-15);
    assertThrows(IllegalArgumentException.class, () -> BestOfNSampler.analyticKl(0));
  }

  @Test
  void rejectsBadInputAndNonFiniteScores() {
    BestOfNSampler s = sampler(new AsciiCount());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.sample(List.of("a"), 0, 1));
    assertTrue(e.getMessage().contains("got 0"), e.getMessage());
    List<Candidates> c = s.sample(List.of("a"), 2, 1);
    e = assertThrows(IllegalArgumentException.class, () -> c.get(0).bestOf(3));
    assertTrue(e.getMessage().contains("got 3"), e.getMessage());
    RewardModel nan = seq -> Nd4j.valueArrayOf(seq.batchSize(), Double.NaN);
    IllegalStateException bad = assertThrows(IllegalStateException.class, () -> sampler(nan).sample(List.of("a"), 2, 1));
    assertTrue(bad.getMessage().contains("NaN"), bad.getMessage());
  }
}
