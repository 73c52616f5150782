package org.rlhf4j.core.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.TokenLogProbs;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;

class GeneratorTest {
  private static final int V = 23;
  private static final int PAD = 0;
  private static GptModel model;

  @BeforeAll
  static void setUp() {
    GptConfig c = GptConfig.builder().vocabSize(V).dModel(32).heads(4).layers(2).contextLength(32).build();
    model = GptModel.randomInit(c, 3, new ModelOptions(DataType.FLOAT, 2));
    // Sharpen the random model so its distributions are far from uniform.
    model.parameters().get("wte").array().muli(6);
  }

  @AfterAll
  static void tearDown() {
    model.close();
  }

  private static List<int[]> prompts() {
    return List.of(new int[] {5, 6, 7, 8, 9}, new int[] {3}, new int[] {1, 2, 3}, new int[] {22, 21});
  }

  @Test
  void cachedLogitsEqualFullForwardLogits() {
    TokenBatch prompts = TokenBatch.leftPadded(prompts(), PAD);
    int b = prompts.batchSize();
    int p = prompts.length();
    int steps = 6;
    int[][] fed = new int[b][steps];
    try (DecodeSession s = model.newDecodeSession(b, p + steps)) {
      INDArray cached = s.prefill(prompts);
      for (int step = 0; step <= steps; step++) {
        // the full forward pass over the same left-padded tokens
        int t = p + step;
        int[] ids = new int[b * t];
        int[] mask = new int[b * t];
        for (int i = 0; i < b; i++) {
          for (int j = 0; j < p; j++) {
            ids[i * t + j] = prompts.id(i, j);
            mask[i * t + j] = prompts.mask(i, j);
          }
          for (int j = 0; j < step; j++) {
            ids[i * t + p + j] = fed[i][j];
            mask[i * t + p + j] = 1;
          }
        }
        INDArray full = model.forward(TokenBatch.of(b, t, ids, mask)).logits();
        INDArray last = full.get(NDArrayIndex.all(), NDArrayIndex.point(t - 1), NDArrayIndex.all());
        double diff = last.sub(cached).amaxNumber().doubleValue();
        assertTrue(diff < 1e-4, "step " + step + ": cached vs full logits differ by " + diff);
        assertTrue(last.amaxNumber().doubleValue() > 1, "logits are non-trivial");
        if (step == steps) {
          break;
        }
        int[] next = new int[b];
        for (int i = 0; i < b; i++) {
          next[i] = (7 * step + 3 * i + 1) % V;
          fed[i][step] = next[i];
        }
        cached = s.step(next);
      }
    }
  }

  @Test
  void sameSeedSameSamplesDifferentSeedDifferentSamples() {
    SamplingConfig cfg = SamplingConfig.builder().maxNewTokens(12).temperature(1.2).topP(0.95).build();
    Generation a = Generator.generate(model, prompts(), cfg, 11, PAD);
    Generation b = Generator.generate(model, prompts(), cfg, 11, PAD);
    Generation c = Generator.generate(model, prompts(), cfg, 12, PAD);
    boolean anyDiff = false;
    for (int i = 0; i < a.batchSize(); i++) {
      assertArrayEquals(a.response(i), b.response(i));
      assertArrayEquals(a.logProbs(i), b.logProbs(i));
      anyDiff |= !Arrays.equals(a.response(i), c.response(i));
    }
    assertTrue(anyDiff, "a different seed should give different samples");
  }

  @Test
  void reportedLogProbsEqualForwardPassLogProbsAtTheTemperature() {
    double temperature = 0.8;
    SamplingConfig cfg = SamplingConfig.builder().maxNewTokens(10).temperature(temperature).topK(5).build();
    Generation g = Generator.generate(model, prompts(), cfg, 5, PAD);
    TokenBatch seq = g.sequences();
    TokenLogProbs lp = model.forward(seq).tokenLogProbs(temperature);
    int p = g.prompts().length();
    for (int i = 0; i < g.batchSize(); i++) {
      double[] reported = g.logProbs(i);
      for (int j = 0; j < reported.length; j++) {
        double recomputed = lp.logProbs().getDouble(i, p + j - 1);
        assertEquals(recomputed, reported[j], 1e-4, "row " + i + " token " + j);
      }
    }
  }

  @Test
  void greedyFollowsTheArgmaxAndTopKOneIsGreedy() {
    SamplingConfig greedy = SamplingConfig.builder().maxNewTokens(8).greedy(true).build();
    Generation g = Generator.generate(model, prompts(), greedy, 1, PAD);
    Generation k1 = Generator.generate(model, prompts(), greedy.toBuilder().greedy(false).topK(1).build(), 99, PAD);
    Generation p0 = Generator.generate(model, prompts(), greedy.toBuilder().greedy(false).topP(1e-6).build(), 98, PAD);
    TokenBatch seq = g.sequences();
    INDArray logits = model.forward(seq).logits();
    int p = g.prompts().length();
    for (int i = 0; i < g.batchSize(); i++) {
      int[] r = g.response(i);
      for (int j = 0; j < r.length; j++) {
        INDArray row = logits.get(NDArrayIndex.point(i), NDArrayIndex.point(p + j - 1), NDArrayIndex.all());
        assertEquals(row.argMax().getInt(0), r[j], "row " + i + " step " + j);
      }
      assertArrayEquals(r, k1.response(i));
      assertArrayEquals(r, p0.response(i));
    }
  }

  @Test
  void topKSamplesOnlyFromTheKMostLikelyTokens() {
    SamplingConfig cfg = SamplingConfig.builder().maxNewTokens(1).topK(3).temperature(2.0).build();
    TokenBatch prompt = TokenBatch.leftPadded(List.of(new int[] {4, 5, 6}), PAD);
    INDArray logits = model.forward(prompt).logits().get(NDArrayIndex.point(0), NDArrayIndex.point(2), NDArrayIndex.all());
    List<Integer> top3 = new ArrayList<>();
    INDArray sorted = logits.dup();
    for (int k = 0; k < 3; k++) {
      int idx = sorted.argMax().getInt(0);
      top3.add(idx);
      sorted.putScalar(idx, Double.NEGATIVE_INFINITY);
    }
    int[] counts = new int[V];
    for (int seed = 0; seed < 300; seed++) {
      int tok = Generator.generate(model, List.of(new int[] {4, 5, 6}), cfg, seed, PAD).response(0)[0];
      assertTrue(top3.contains(tok), "token " + tok + " is not among the top 3 " + top3);
      counts[tok]++;
    }
    for (int t : top3) {
      assertTrue(counts[t] > 0 || logits.getDouble(t) < logits.getDouble(top3.get(0)) - 6, "token " + t + " never sampled");
    }
  }

  @Test
  void sampleFrequenciesFollowTheModelDistribution() {
    // Unfiltered sampling at temperature 3 from one prompt: the empirical distribution of the first
    // token matches softmax(logits / 3) within sampling error.
    double temp = 3.0;
    TokenBatch prompt = TokenBatch.leftPadded(List.of(new int[] {9, 8}), PAD);
    INDArray logits = model.forward(prompt).logits().get(NDArrayIndex.point(0), NDArrayIndex.point(1), NDArrayIndex.all());
    double[] z = logits.toDoubleVector();
    double max = Arrays.stream(z).max().getAsDouble();
    double sum = 0;
    double[] p = new double[V];
    for (int j = 0; j < V; j++) {
      p[j] = Math.exp((z[j] - max) / temp);
      sum += p[j];
    }
    int n = 4000;
    List<int[]> many = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      many.add(new int[] {9, 8});
    }
    Generation g = Generator.generate(model, many, SamplingConfig.builder().maxNewTokens(1).temperature(temp).build(), 7, PAD);
    int[] counts = new int[V];
    for (int i = 0; i < n; i++) {
      counts[g.response(i)[0]]++;
    }
    for (int j = 0; j < V; j++) {
      double expected = p[j] / sum;
      double sd = Math.sqrt(expected * (1 - expected) / n);
      assertEquals(expected, counts[j] / (double) n, 5 * sd + 1e-3, "token " + j);
    }
  }

  @Test
  void stopTokensEndSequencesAndAreKept() {
    // Use the most frequent token of an unstopped run as the stop token.
    SamplingConfig free = SamplingConfig.builder().maxNewTokens(20).temperature(1.5).build();
    Generation first = Generator.generate(model, prompts(), free, 4, PAD);
    int[] counts = new int[V];
    for (int[] r : first.responses()) {
      for (int tok : r) {
        counts[tok]++;
      }
    }
    int stop = 0;
    for (int j = 1; j < V; j++) {
      stop = counts[j] > counts[stop] ? j : stop;
    }
    SamplingConfig cfg = free.toBuilder().stopTokens(stop).build();
    Generation g = Generator.generate(model, prompts(), cfg, 4, PAD);
    int stoppedCount = 0;
    for (int i = 0; i < g.batchSize(); i++) {
      int[] r = g.response(i);
      for (int j = 0; j < r.length - 1; j++) {
        assertTrue(r[j] != stop, "stop token inside a response");
      }
      if (g.stopped(i)) {
        stoppedCount++;
        assertEquals(stop, r[r.length - 1]);
      } else {
        assertEquals(g.steps(), r.length);
      }
    }
    assertTrue(stoppedCount > 0, "no sequence stopped");
    INDArray mask = g.generatedMask();
    int p = g.prompts().length();
    for (int i = 0; i < g.batchSize(); i++) {
      for (int j = 0; j < g.steps(); j++) {
        assertEquals(j < g.response(i).length ? 1 : 0, mask.getInt(i, p + j));
      }
    }
  }

  @Test
  void minNewTokensHoldsBackTheStopTokens() {
    // Make every token a stop token except 1..3: without the minimum, sequences end at once.
    java.util.Set<Integer> stops = new java.util.HashSet<>();
    for (int t = 0; t < V; t++) {
      if (t < 1 || t > 3) {
        stops.add(t);
      }
    }
    SamplingConfig cfg = SamplingConfig.builder().maxNewTokens(10).stopTokens(stops).temperature(1.5).build();
    Generation free = Generator.generate(model, prompts(), cfg, 3, PAD);
    assertTrue(free.responses().stream().anyMatch(r -> r.length < 4), "some sequence stops early without the minimum");
    Generation held = Generator.generate(model, prompts(), cfg.toBuilder().minNewTokens(4).build(), 3, PAD);
    for (int i = 0; i < held.batchSize(); i++) {
      int[] r = held.response(i);
      assertTrue(r.length >= 4, "response " + i + " has " + r.length + " tokens");
      for (int j = 0; j < 3; j++) {
        assertTrue(r[j] >= 1 && r[j] <= 3, "no stop token among the first 4: " + java.util.Arrays.toString(r));
      }
    }
    assertThrows(IllegalArgumentException.class, () -> SamplingConfig.builder().maxNewTokens(2).minNewTokens(3).build());
  }

  @Test
  void tooLongRequestIsAClearError() {
    SamplingConfig cfg = SamplingConfig.builder().maxNewTokens(30).build();
    RlhfException e = assertThrows(RlhfException.class, () -> Generator.generate(model, prompts(), cfg, 1, PAD));
    assertTrue(e.getMessage().contains("context length"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> SamplingConfig.builder().topP(0).build());
    assertFalse(SamplingConfig.builder().build().greedy());
  }
}
