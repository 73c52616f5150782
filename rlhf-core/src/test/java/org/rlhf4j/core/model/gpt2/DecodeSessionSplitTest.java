package org.rlhf4j.core.model.gpt2;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;

/**
 * KV-cached decoding with more threads than sequences (products split by columns, attention by
 * heads, the split threshold lowered so this small model splits) gives the logits of a full forward
 * pass of a one-thread copy; for one sequence on three threads and two sequences on three threads
 * (two threads for the first, one for the second).
 */
class DecodeSessionSplitTest {

  @Test
  void splitDecodingEqualsFullForward() throws Exception {
    long saved = GptGradientCheckTest.setMinSplitWork(1);
    GptConfig c = GptConfig.builder().vocabSize(23).dModel(32).heads(4).layers(2).contextLength(32).build();
    try (GptModel many = GptModel.randomInit(c, 3, new ModelOptions(DataType.DOUBLE, 3));
        GptModel one = many.copy(new ModelOptions(DataType.DOUBLE, 1))) {
      many.parameters().get("wte").array().muli(6);
      one.parameters().get("wte").array().muli(6);
      for (List<int[]> prompts : List.of(List.of(new int[] {5, 6, 7}), List.of(new int[] {5, 6, 7, 8}, new int[] {2}))) {
        TokenBatch tb = TokenBatch.leftPadded(prompts, 0);
        int b = tb.batchSize();
        int p = tb.length();
        int steps = 5;
        int[][] fed = new int[b][steps];
        try (DecodeSession s = many.newDecodeSession(b, p + steps)) {
          INDArray cached = s.prefill(tb);
          for (int step = 0; step <= steps; step++) {
            int t = p + step;
            int[] ids = new int[b * t];
            int[] mask = new int[b * t];
            for (int i = 0; i < b; i++) {
              for (int j = 0; j < p; j++) {
                ids[i * t + j] = tb.id(i, j);
                mask[i * t + j] = tb.mask(i, j);
              }
              for (int j = 0; j < step; j++) {
                ids[i * t + p + j] = fed[i][j];
                mask[i * t + p + j] = 1;
              }
            }
            INDArray full = one.forward(TokenBatch.of(b, t, ids, mask)).logits();
            INDArray last = full.get(NDArrayIndex.all(), NDArrayIndex.point(t - 1), NDArrayIndex.all());
            double diff = last.sub(cached).amaxNumber().doubleValue();
            assertTrue(diff < 1e-10, "batch " + b + " step " + step + ": cached vs full logits differ by " + diff);
            assertTrue(last.amaxNumber().doubleValue() > 1, "logits are non-trivial");
            if (step == steps) {
              break;
            }
            int[] next = new int[b];
            for (int i = 0; i < b; i++) {
              next[i] = (7 * step + 3 * i + 1) % 23;
              fed[i][step] = next[i];
            }
            cached = s.step(next);
          }
        }
      }
    } finally {
      GptGradientCheckTest.setMinSplitWork(saved);
    }
  }
}
