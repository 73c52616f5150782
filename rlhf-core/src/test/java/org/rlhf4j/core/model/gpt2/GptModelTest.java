package org.rlhf4j.core.model.gpt2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;

class GptModelTest {
  private static final GptConfig C = GptConfig.builder().vocabSize(17).dModel(16).heads(2).layers(2).contextLength(10).build();

  @Test
  void badInputIsAClearError() {
    GptModel m = GptModel.randomInit(C, 1, new ModelOptions(DataType.FLOAT, 2));
    RlhfException id = assertThrows(RlhfException.class, () -> m.forward(TokenBatch.unpadded(new int[][] {{1, 2}, {3, 17}})));
    assertTrue(id.getMessage().contains("17") && id.getMessage().contains("row 1") && id.getMessage().contains("position 1"), id.getMessage());
    RlhfException len = assertThrows(RlhfException.class, () -> m.forward(TokenBatch.unpadded(new int[][] {new int[11]})));
    assertTrue(len.getMessage().contains("context length 10"), len.getMessage());
    IllegalArgumentException mask = assertThrows(IllegalArgumentException.class, () -> TokenBatch.of(1, 2, new int[] {1, 2}, new int[] {1, 2}));
    assertTrue(mask.getMessage().contains("mask"), mask.getMessage());
    IllegalArgumentException cfg = assertThrows(IllegalArgumentException.class, () -> GptConfig.builder().vocabSize(10).dModel(10).heads(3).layers(1).contextLength(4).build());
    assertTrue(cfg.getMessage().contains("dModel") && cfg.getMessage().contains("heads"), cfg.getMessage());
  }

  @Test
  void stalePassesClosedModelsAndMissingHeadsAreRefused() {
    GptModel m = GptModel.randomInit(C, 1, new ModelOptions(DataType.FLOAT, 1));
    TokenBatch b = TokenBatch.unpadded(new int[][] {{1, 2, 3}});
    ForwardPass first = m.forward(b);
    m.forward(b);
    assertThrows(IllegalStateException.class, () -> first.tokenLogProbs(1.0));
    assertThrows(IllegalStateException.class, () -> m.forward(b).values());
    m.close();
    assertThrows(IllegalStateException.class, () -> m.forward(b));
  }

  @Test
  void paddingDoesNotChangeTheOutputsOfRealTokens() {
    GptModel m = GptModel.randomInit(C, 2, new ModelOptions(DataType.FLOAT, 2));
    m.parameters().get("wte").array().muli(10);
    INDArray alone = m.forward(TokenBatch.unpadded(new int[][] {{4, 5, 6}})).logits();
    TokenBatch left = TokenBatch.leftPadded(List.of(new int[] {4, 5, 6}, new int[] {1, 2, 3, 4, 5, 6, 7}), 0);
    TokenBatch right = TokenBatch.rightPadded(List.of(new int[] {4, 5, 6}, new int[] {1, 2, 3, 4, 5, 6, 7}), 0);
    INDArray l = m.forward(left).logits().get(NDArrayIndex.point(0), NDArrayIndex.interval(4, 7), NDArrayIndex.all());
    INDArray r = m.forward(right).logits().get(NDArrayIndex.point(0), NDArrayIndex.interval(0, 3), NDArrayIndex.all());
    INDArray a = alone.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.all());
    assertEquals(0.0, l.sub(a).amaxNumber().doubleValue(), 1e-4);
    assertEquals(0.0, r.sub(a).amaxNumber().doubleValue(), 1e-4);
  }

  @Test
  void copiesAreIndependentAndHeadsAreAdded() {
    GptModel m = GptModel.randomInit(C, 3, new ModelOptions(DataType.FLOAT, 1));
    GptModel c = m.copy(m.options());
    c.parameters().get("wpe").array().addi(1);
    assertNotEquals(m.parameters().get("wpe").array(), c.parameters().get("wpe").array());
    GptModel h = m.withNewScalarHead(4);
    assertTrue(h.config().scalarHead());
    assertEquals(m.parameters().get("h.1.mlp.c_fc.weight").array(), h.parameters().get("h.1.mlp.c_fc.weight").array());
    assertEquals(m.config().parameterCount() + C.dModel() + 1, h.config().parameterCount());
    assertEquals(GptModel.randomInit(C, 3, new ModelOptions(DataType.FLOAT, 1)).parameters().flat().array(), m.parameters().flat().array(), "same seed, same weights");
  }

  @Test
  void memoryEstimatesCountTheShardsBuffers() {
    long t = 5;
    for (int[] bt : new int[][] {{2, 1}, {3, 2}, {1, 2}, {1, 3}, {2, 3}, {4, 4}}) {
      int batch = bt[0];
      int threads = bt[1];
      int shards = Math.min(threads, batch);
      long elements = 0;
      long tensors = 0;
      for (int s = 0; s < shards; s++) {
        int rows = (int) ((long) (s + 1) * batch / shards - (long) s * batch / shards);
        try (ShardWorkspace ws = new ShardWorkspace(C, DataType.FLOAT)) {
          ws.ensure(rows, (int) t, GptModel.intraShardWays(threads, shards, s));
          for (BlockActs a : ws.layers) {
            for (var x : new org.rlhf4j.core.tensor.Tensor[] {
                a.ln1Hat, a.ln1Rstd, a.ln1Out, a.qkv, a.att, a.y, a.mid, a.ln2Hat, a.ln2Rstd, a.ln2Out, a.fcPre, a.fcAct, a.out}) {
              elements += x.length();
              tensors++;
            }
          }
          for (var x : new org.rlhf4j.core.tensor.Tensor[] {ws.emb, ws.lnfHat, ws.lnfRstd, ws.hidden, ws.logits, ws.lse, ws.dResid, ws.dHidden, ws.dLn,
              ws.dY, ws.dQkv, ws.dAtt, ws.dFc, ws.dLogits, ws.normPartials}) {
            elements += x.length();
            tensors++;
          }
        }
      }
      long counted = elements * 4 + 12L * batch * t;
      long estimate = GptMemory.activationBytes(C, DataType.FLOAT, batch, t, threads);
      // the estimate counts each shard's log-sum-exps as b*T rather than b*(T-1)
      assertTrue(estimate >= counted && estimate - counted <= 4L * batch, batch + " x " + t + " on " + threads + " threads: estimate " + estimate + " vs counted " + counted);
    }
    // a sequence whose heads are split over two threads needs two score-gradient blocks, not one per head
    assertEquals(
        GptMemory.activationBytes(C, DataType.FLOAT, 1, t, 1) + 4L * t * t,
        GptMemory.activationBytes(C, DataType.FLOAT, 1, t, 2));
  }
}
