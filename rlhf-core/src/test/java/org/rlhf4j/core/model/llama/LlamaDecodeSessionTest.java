package org.rlhf4j.core.model.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.testing.Concurrently;

/**
 * Cached decoding (prefill + one token per step over the key/value cache) against the full forward
 * pass over the same tokens, in double, for grouped-query attention with Llama-3 rope scaling and
 * for multi-query attention with q/k/v biases and a tied head; left-padded prompts of different
 * lengths; sessions prefilled from several threads at once; and the session's and model's refusals.
 */
class LlamaDecodeSessionTest {

  private static void cachedEqualsFull(LlamaConfig c, long seed) {
    try (LlamaModel m = LlamaGradientCheckTest.model(c, seed, 2)) {
      List<int[]> prompts = List.of(new int[] {3, 4, 5}, new int[] {1}, new int[] {9, 8});
      int[][] continuation = {{2, 7, 1, 0}, {5, 5, 6, 10}, {4, 3, 2, 1}};
      TokenBatch p = TokenBatch.leftPadded(prompts, 0);
      int t0 = p.length();
      int steps = continuation[0].length;
      try (LlamaDecodeSession s = m.newDecodeSession(3, t0 + steps)) {
        INDArray[] cached = new INDArray[steps + 1];
        cached[0] = s.prefill(p).dup();
        for (int k = 0; k < steps; k++) {
          cached[k + 1] = s.step(new int[] {continuation[0][k], continuation[1][k], continuation[2][k]}).dup();
        }
        assertEquals(t0 + steps, s.length());
        // the full sequences, left-padded like the prompts
        int t = t0 + steps;
        int[] ids = new int[3 * t];
        int[] mask = new int[3 * t];
        for (int r = 0; r < 3; r++) {
          for (int j = 0; j < t0; j++) {
            ids[r * t + j] = p.id(r, j);
            mask[r * t + j] = p.mask(r, j);
          }
          for (int k = 0; k < steps; k++) {
            ids[r * t + t0 + k] = continuation[r][k];
            mask[r * t + t0 + k] = 1;
          }
        }
        INDArray full = m.forward(TokenBatch.of(3, t, ids, mask)).logits();
        for (int k = 0; k <= steps; k++) {
          for (int r = 0; r < 3; r++) {
            INDArray want = full.get(
                org.nd4j.linalg.indexing.NDArrayIndex.point(r), org.nd4j.linalg.indexing.NDArrayIndex.point(t0 - 1 + k), org.nd4j.linalg.indexing.NDArrayIndex.all());
            double diff = want.sub(cached[k].getRow(r)).amaxNumber().doubleValue();
            assertTrue(diff < 1e-10, "step " + k + " row " + r + ": |cached - full| = " + diff);
          }
        }
      }
    }
  }

  @Test
  void groupedQueryWithLlama3Rope() {
    cachedEqualsFull(LlamaGradientCheckTest.gqaConfig(), 11);
  }

  @Test
  void multiQueryWithBiasesAndTiedHead() {
    cachedEqualsFull(LlamaGradientCheckTest.qwenMqaConfig(), 12);
  }

  /** Sessions prefilled from several threads at once (the prefill's pass uses the model's buffers) get their own prompts' logits. */
  @Test
  void prefillsFromSeveralThreadsAtOnceSeeTheirOwnPrompts() throws Exception {
    try (LlamaModel m = LlamaGradientCheckTest.model(LlamaGradientCheckTest.gqaConfig(), 5, 2)) {
      int[][] prompts = {{3, 4, 5, 6, 7, 1, 2}, {1}, {9, 8, 2}};
      INDArray[] want = new INDArray[prompts.length];
      for (int p = 0; p < prompts.length; p++) {
        try (LlamaDecodeSession s = m.newDecodeSession(1, 8)) {
          want[p] = s.prefill(TokenBatch.unpadded(new int[][] {prompts[p]})).dup();
        }
      }
      Concurrently.run(prompts.length, mine -> {
        for (int rep = 0; rep < 200; rep++) {
          try (LlamaDecodeSession s = m.newDecodeSession(1, 8)) {
            assertEquals(want[mine], s.prefill(TokenBatch.unpadded(new int[][] {prompts[mine]})).dup(), "prompt " + mine + ", repetition " + rep);
          }
        }
      });
    }
  }

  @Test
  void refusesMisuse() {
    try (LlamaModel m = LlamaGradientCheckTest.model(LlamaGradientCheckTest.gqaConfig(), 3, 1)) {
      assertThrows(IllegalArgumentException.class, () -> m.newDecodeSession(1, 9)); // beyond the context of 8
      LlamaDecodeSession s = m.newDecodeSession(1, 3);
      assertThrows(IllegalStateException.class, () -> s.step(new int[] {1}));
      TokenBatch rightPadded = TokenBatch.rightPadded(List.of(new int[] {1}, new int[] {1, 2}), 0);
      LlamaDecodeSession two = m.newDecodeSession(2, 4);
      assertThrows(IllegalArgumentException.class, () -> two.prefill(rightPadded));
      s.prefill(TokenBatch.unpadded(new int[][] {{1, 2}}));
      s.step(new int[] {3});
      assertThrows(IllegalStateException.class, () -> s.step(new int[] {4}), "cache full");
      two.prefill(TokenBatch.leftPadded(List.of(new int[] {1}, new int[] {1, 2}), 0));
      IllegalArgumentException outside = assertThrows(IllegalArgumentException.class, () -> two.step(new int[] {1, 99}));
      assertTrue(outside.getMessage().contains("token 99 of row 1"), outside.getMessage());
      s.close();
      assertThrows(IllegalStateException.class, () -> s.step(new int[] {1}));
      RlhfException tooLong = assertThrows(RlhfException.class, () -> m.forward(TokenBatch.unpadded(new int[][] {{1, 2, 3, 4, 5, 6, 7, 8, 9}})));
      assertTrue(tooLong.getMessage().contains("context length 8"), tooLong.getMessage());
      RlhfException badId = assertThrows(RlhfException.class, () -> m.forward(TokenBatch.unpadded(new int[][] {{1, 11}})));
      assertTrue(badId.getMessage().contains("token id 11"), badId.getMessage());
      LlamaForwardPass stale = m.forward(TokenBatch.unpadded(new int[][] {{1, 2}}));
      m.forward(TokenBatch.unpadded(new int[][] {{1, 2}}));
      assertThrows(IllegalStateException.class, stale::logits);
      two.close();
    }
    LlamaModel closed = LlamaGradientCheckTest.model(LlamaGradientCheckTest.gqaConfig(), 3, 1);
    closed.close();
    assertThrows(IllegalStateException.class, closed::parameters);
  }
}
