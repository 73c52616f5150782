package org.rlhf4j.core.model.gpt2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;

/**
 * The decode step of one sequence split across threads ({@link ShardMath#blockOneRowSplit}: heads
 * and column blocks per thread, partial sums of the projections added in a fixed order) in float, as
 * sampling runs: the path is taken for one sequence on 2 and 3 threads and for the first of 2 sequences
 * on 3 threads (not on 2 threads, nor on 1 thread); its logits agree with a one-thread session's to float rounding at every
 * step; and two sessions with the same thread count give bit-identical logits.
 */
class DecodeSessionOneRowSplitTest {

  private static float[][] run(GptModel m, int steps) {
    float[][] out = new float[steps + 1][];
    try (DecodeSession s = m.newDecodeSession(1, 6 + steps)) {
      out[0] = s.prefill(TokenBatch.unpadded(new int[][] {{3, 1, 4, 1, 5, 9}})).dup().data().asFloat();
      for (int i = 0; i < steps; i++) {
        out[i + 1] = s.step(new int[] {(7 * i + 2) % 29}).dup().data().asFloat();
      }
    }
    return out;
  }

  @Test
  void splitStepsAgreeWithOneThreadAndRepeatExactly() throws Exception {
    long saved = GptGradientCheckTest.setMinSplitWork(1);
    // d 64 (F 256) and 4 heads: 2 and 3 threads split heads 2+2 and 1+1+2, F into 128+128 and 80+80+96
    GptConfig c = GptConfig.builder().vocabSize(29).dModel(64).heads(4).layers(2).contextLength(32).build();
    try (GptModel one = GptModel.randomInit(c, 4, new ModelOptions(DataType.FLOAT, 1))) {
      one.parameters().get("wte").array().muli(4);
      for (int threads : new int[] {2, 3}) {
        try (GptModel many = one.copy(new ModelOptions(DataType.FLOAT, threads))) {
          try (DecodeSession s = many.newDecodeSession(1, 8)) {
            assertTrue(((GptDecodeSession) s).splitsOneRow(), threads + " threads, one sequence: split path");
          }
          try (DecodeSession s = many.newDecodeSession(2, 8)) { // shard 0 has 1 thread (of 2) or 2 (of 3)
            assertTrue(((GptDecodeSession) s).splitsOneRow() == (threads == 3), threads + " threads, two sequences");
          }
          int steps = 12;
          float[][] ref = run(one, steps);
          float[][] got = run(many, steps);
          float[][] again = run(many, steps);
          double maxAbs = 0;
          for (int i = 0; i <= steps; i++) {
            assertArrayEquals(got[i], again[i], threads + " threads, step " + i + ": the same numbers twice");
            for (int v = 0; v < ref[i].length; v++) {
              double diff = Math.abs(ref[i][v] - got[i][v]);
              assertTrue(diff <= 1e-4 * (1 + Math.abs(ref[i][v])), threads + " threads, step " + i + ", logit " + v + ": " + got[i][v] + " vs " + ref[i][v]);
              maxAbs = Math.max(maxAbs, Math.abs(ref[i][v]));
            }
          }
          assertTrue(maxAbs > 1, "logits are non-trivial: " + maxAbs);
        }
      }
      try (DecodeSession s = one.newDecodeSession(1, 8)) {
        assertFalse(((GptDecodeSession) s).splitsOneRow(), "one thread: unsplit");
      }
    } finally {
      GptGradientCheckTest.setMinSplitWork(saved);
    }
  }
}
