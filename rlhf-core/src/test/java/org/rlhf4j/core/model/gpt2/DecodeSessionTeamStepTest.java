package org.rlhf4j.core.model.gpt2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.testing.BusyWorkers;
import org.rlhf4j.core.testing.Concurrently;

/**
 * The decode step of one sequence on several threads as one parallel region ({@link TeamDecodeStep}:
 * per phase a slice per thread, by heads, by MLP columns, by vocabulary; partial sums added in a
 * fixed order) in float, as sampling runs, on 2 and 3 threads, for a model whose sizes split evenly
 * and one whose heads, MLP columns and vocabulary do not (d 40, 5 heads: 2+3 and 1+2+2 heads; F 160:
 * 80+80 and 48+48+64 columns; vocabulary 37: 16+21 and 0+16+21): the path is taken (for the first of
 * two sequences only on 3 threads, where that shard has 2 threads); its logits agree at every step
 * with a one-thread session's and with a full forward pass over the whole sequence, to float
 * rounding, with the slices' blocks of the weights packed or read where they lie; two sessions with
 * the same thread count give bit-identical logits, and so do steps that find no helper (the caller
 * runs every slice) and two sessions stepped from two threads at once; sessions prefilled from
 * several threads at once get their own prompts' logits; a failing slice fails its step and the
 * session; and a closed session refuses steps.
 */
class DecodeSessionTeamStepTest {
  private static final int[] PROMPT = {3, 1, 4, 1, 5, 9};

  private static int token(int step, int vocab) {
    return (7 * step + 2) % vocab;
  }

  /** The logits after the prompt and after each of {@code steps} steps. */
  private static float[][] run(GptModel m, int steps) {
    int vocab = m.config().vocabSize();
    float[][] out = new float[steps + 1][];
    try (DecodeSession s = m.newDecodeSession(1, PROMPT.length + steps)) {
      out[0] = s.prefill(TokenBatch.unpadded(new int[][] {PROMPT})).dup().data().asFloat();
      for (int i = 0; i < steps; i++) {
        out[i + 1] = s.step(new int[] {token(i, vocab)}).dup().data().asFloat();
      }
    }
    return out;
  }

  /** The last position's logits of a full (uncached) forward pass over the prompt and {@code step} fed tokens. */
  private static float[] full(GptModel m, int step) {
    int vocab = m.config().vocabSize();
    int[] ids = new int[PROMPT.length + step];
    System.arraycopy(PROMPT, 0, ids, 0, PROMPT.length);
    for (int i = 0; i < step; i++) {
      ids[PROMPT.length + i] = token(i, vocab);
    }
    return m.forward(TokenBatch.unpadded(new int[][] {ids})).logits()
        .get(NDArrayIndex.point(0), NDArrayIndex.point(ids.length - 1), NDArrayIndex.all()).dup().data().asFloat();
  }

  private static void assertClose(float[] want, float[] got, String what) {
    for (int v = 0; v < want.length; v++) {
      double diff = Math.abs(want[v] - got[v]);
      assertTrue(diff <= 1e-4 * (1 + Math.abs(want[v])), what + ", logit " + v + ": " + got[v] + " vs " + want[v]);
    }
  }

  @Test
  void teamStepsAgreeWithOneThreadAndTheFullPassAndRepeatExactly() throws Exception {
    agreeAndRepeat(true);
  }

  @Test
  void unpackedTeamStepsAgreeToo() throws Exception {
    long saved = TeamDecodeStep.packLimitBytes;
    TeamDecodeStep.packLimitBytes = 0; // the slices read their blocks where they lie in the weights
    try {
      agreeAndRepeat(false);
    } finally {
      TeamDecodeStep.packLimitBytes = saved;
    }
  }

  private void agreeAndRepeat(boolean packs) throws Exception {
    long saved = GptGradientCheckTest.setMinSplitWork(1);
    try {
      GptConfig even = GptConfig.builder().vocabSize(29).dModel(64).heads(4).layers(2).contextLength(32).build();
      GptConfig uneven = GptConfig.builder().vocabSize(37).dModel(40).heads(5).layers(2).contextLength(32).build();
      for (GptConfig c : new GptConfig[] {even, uneven}) {
        try (GptModel one = GptModel.randomInit(c, 4, new ModelOptions(DataType.FLOAT, 1))) {
          one.parameters().get("wte").array().muli(4);
          try (DecodeSession s = one.newDecodeSession(1, 8)) {
            assertEquals(0, ((GptDecodeSession) s).teamParts(), "one thread: no team");
          }
          int steps = 12;
          float[][] ref = run(one, steps);
          for (int threads : new int[] {2, 3}) {
            String what = "d " + c.dModel() + ", " + threads + " threads";
            try (GptModel many = one.copy(new ModelOptions(DataType.FLOAT, threads))) {
              try (DecodeSession s = many.newDecodeSession(1, 8)) {
                assertEquals(threads, ((GptDecodeSession) s).teamParts(), what + ", one sequence: the team step");
                assertEquals(packs, ((GptDecodeSession) s).team().packs(), what + ": packed weights");
              }
              try (DecodeSession s = many.newDecodeSession(2, 8)) { // shard 0 has 1 thread (of 2) or 2 (of 3)
                assertEquals(threads == 3 ? 2 : 0, ((GptDecodeSession) s).teamParts(), what + ", two sequences");
              }
              float[][] got = run(many, steps);
              float[][] again = run(many, steps);
              double maxAbs = 0;
              for (int i = 0; i <= steps; i++) {
                assertArrayEquals(got[i], again[i], what + ", step " + i + ": the same numbers twice");
                assertClose(ref[i], got[i], what + ", step " + i + " vs one thread");
                if (i % 4 == 1) {
                  assertClose(full(one, i), got[i], what + ", step " + i + " vs the full pass");
                }
                for (float v : ref[i]) {
                  maxAbs = Math.max(maxAbs, Math.abs(v));
                }
              }
              assertTrue(maxAbs > 1, "logits are non-trivial: " + maxAbs);
            }
          }
        }
      }
    } finally {
      GptGradientCheckTest.setMinSplitWork(saved);
    }
  }

  @Test
  void aClosedSessionRefusesStepsAndPrefill() throws Exception {
    long saved = GptGradientCheckTest.setMinSplitWork(1);
    GptConfig c = GptConfig.builder().vocabSize(29).dModel(64).heads(4).layers(2).contextLength(32).build();
    try (GptModel m = GptModel.randomInit(c, 4, new ModelOptions(DataType.FLOAT, 2))) {
      DecodeSession s = m.newDecodeSession(1, 16);
      assertEquals(2, ((GptDecodeSession) s).teamParts());
      s.prefill(TokenBatch.unpadded(new int[][] {PROMPT}));
      s.step(new int[] {1});
      s.close();
      assertThrows(IllegalStateException.class, () -> s.step(new int[] {2}));
      DecodeSession t = m.newDecodeSession(1, 16);
      t.close();
      assertThrows(IllegalStateException.class, () -> t.prefill(TokenBatch.unpadded(new int[][] {PROMPT})));
    } finally {
      GptGradientCheckTest.setMinSplitWork(saved);
    }
  }

  @Test
  void aStepNeedsNoHelperAndGivesTheSameNumbersWithout() throws Exception {
    // Every worker that spins while idle is kept busy by another thread's split, so the steps find no
    // helper: the caller runs every slice itself (it never waits for a helper), with bit-identical
    // logits (the same slices, added in the same order).
    org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.getRuntime().availableProcessors() >= 2, "needs 2 processors");
    long saved = GptGradientCheckTest.setMinSplitWork(1);
    GptConfig c = GptConfig.builder().vocabSize(37).dModel(40).heads(5).layers(2).contextLength(32).build();
    try (GptModel m = GptModel.randomInit(c, 4, new ModelOptions(DataType.FLOAT, 2))) {
      m.parameters().get("wte").array().muli(4);
      float[][] helped = run(m, 10);
      float[][] alone;
      try (BusyWorkers busy = BusyWorkers.occupy()) {
        alone = run(m, 10);
      }
      for (int i = 0; i < helped.length; i++) {
        assertArrayEquals(helped[i], alone[i], "step " + i + ": with and without a helper");
      }
    } finally {
      GptGradientCheckTest.setMinSplitWork(saved);
    }
  }

  @Test
  void twoSessionsSteppedFromTwoThreadsAtOnceGiveTheirOwnNumbers() throws Exception {
    long saved = GptGradientCheckTest.setMinSplitWork(1);
    GptConfig c = GptConfig.builder().vocabSize(37).dModel(40).heads(5).layers(2).contextLength(32).build();
    try (GptModel m = GptModel.randomInit(c, 4, new ModelOptions(DataType.FLOAT, 2))) {
      m.parameters().get("wte").array().muli(4);
      float[][] alone = run(m, 12);
      float[][][] got = new float[2][][];
      Concurrently.run(2, caller -> {
        for (int rep = 0; rep < 20; rep++) {
          got[caller] = run(m, 12);
        }
      });
      for (int t = 0; t < 2; t++) {
        for (int i = 0; i < alone.length; i++) {
          assertArrayEquals(alone[i], got[t][i], "caller " + t + ", step " + i);
        }
      }
    } finally {
      GptGradientCheckTest.setMinSplitWork(saved);
    }
  }

  /**
   * A prefill runs a pass over the model's own buffers and then copies from them: sessions prefilled
   * from several threads at once (prompts of different lengths) each get their own prompt's logits.
   */
  @Test
  void prefillsFromSeveralThreadsAtOnceSeeTheirOwnPrompts() throws Exception {
    GptConfig c = GptConfig.builder().vocabSize(37).dModel(40).heads(5).layers(2).contextLength(32).build();
    try (GptModel m = GptModel.randomInit(c, 4, new ModelOptions(DataType.FLOAT, 2))) {
      int[][] prompts = {{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}, {2, 7}, {1, 6, 1, 8, 0, 3, 3}};
      float[][] want = new float[prompts.length][];
      for (int p = 0; p < prompts.length; p++) {
        try (DecodeSession s = m.newDecodeSession(1, 16)) {
          want[p] = s.prefill(TokenBatch.unpadded(new int[][] {prompts[p]})).dup().data().asFloat();
        }
      }
      Concurrently.run(prompts.length, mine -> {
        for (int rep = 0; rep < 200; rep++) {
          try (DecodeSession s = m.newDecodeSession(1, 16)) {
            assertArrayEquals(want[mine], s.prefill(TokenBatch.unpadded(new int[][] {prompts[mine]})).dup().data().asFloat(),
                "prompt " + mine + ", repetition " + rep);
          }
        }
      });
    }
  }

  @Test
  void aFailingSliceFailsTheStepAndTheSession() throws Exception {
    long saved = GptGradientCheckTest.setMinSplitWork(1);
    GptConfig c = GptConfig.builder().vocabSize(29).dModel(64).heads(4).layers(2).contextLength(32).build();
    try (GptModel m = GptModel.randomInit(c, 4, new ModelOptions(DataType.FLOAT, 2))) {
      for (int failing : new int[] {0, 1, 5, 7, 9}) { // slices of the first and last layers and of the LM head
        try (DecodeSession s = m.newDecodeSession(1, 16)) {
          TeamDecodeStep team = ((GptDecodeSession) s).team();
          s.prefill(TokenBatch.unpadded(new int[][] {PROMPT}));
          s.step(new int[] {1});
          team.failSlice = i -> i == failing;
          IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.step(new int[] {2}));
          assertTrue(e.getMessage().contains("failed (test)"), e.getMessage());
          team.failSlice = null;
          e = assertThrows(IllegalStateException.class, () -> s.step(new int[] {3}), "slice " + failing);
          assertTrue(e.getMessage().contains("an earlier step failed"), e.getMessage());
        }
      }
    } finally {
      GptGradientCheckTest.setMinSplitWork(saved);
    }
  }
}
