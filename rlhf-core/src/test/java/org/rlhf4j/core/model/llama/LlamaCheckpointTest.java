package org.rlhf4j.core.model.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;

/**
 * A Llama in rlhf4j's own checkpoint format (the seam's {@code ModelCheckpoint.save} with {@code
 * architecture: llama}): saved and loaded back exactly, its config map read back to the same config,
 * and a GPT-2 checkpoint refused by the Llama loader with the field named. Also the memory estimates
 * against the real buffers.
 */
class LlamaCheckpointTest {
  @TempDir Path tmp;

  @Test
  void savedAndLoadedExactly() {
    try (LlamaModel m = LlamaModel.randomInit(LlamaGradientCheckTest.gqaConfig(), 4, new ModelOptions(DataType.FLOAT, 1))) {
      assertEquals(m.config(), LlamaConfig.fromMap(m.configMap(), "test"));
      Path dir = tmp.resolve("ckpt");
      ModelCheckpoint.save(dir, m, Provenance.of("test", 4, Map.of(), null), Map.of(), null);
      try (LlamaModel back = LlamaModel.fromCheckpoint(dir, new ModelOptions(DataType.FLOAT, 1))) {
        assertEquals(m.config(), back.config());
        assertEquals(m.parameters().flat().array(), back.parameters().flat().array());
        TokenBatch b = TokenBatch.unpadded(new int[][] {{1, 2, 3}});
        assertEquals(m.forward(b).logits(), back.forward(b).logits());
      }
    }
    Path gpt = tmp.resolve("gpt");
    try (GptModel g = GptModel.randomInit(GptConfig.builder().vocabSize(11).dModel(8).heads(2).layers(1).contextLength(8).build(), 1)) {
      ModelCheckpoint.save(gpt, g, Provenance.of("test", 1, Map.of(), null), Map.of(), null);
    }
    CheckpointException e = assertThrows(CheckpointException.class, () -> LlamaModel.fromCheckpoint(gpt, ModelOptions.defaults()));
    assertTrue(e.getMessage().contains("\"architecture\""), e.getMessage());
    // the family-neutral loader builds either
    try (CausalLm a = ModelCheckpoint.loadAny(tmp.resolve("ckpt"), ModelOptions.defaults()).model();
        CausalLm b = ModelCheckpoint.loadAny(gpt, ModelOptions.defaults()).model()) {
      assertTrue(a instanceof LlamaModel, a.toString());
      assertTrue(b instanceof GptModel, b.toString());
    }
    ModelCheckpoint.LoadedLm l = ModelCheckpoint.loadAny(tmp.resolve("ckpt"), ModelOptions.defaults());
    assertEquals("test", l.provenance().trainer());
    l.model().close();
  }

  @Test
  void randomInitFollowsTheParameterTable() {
    try (LlamaModel m = LlamaModel.randomInit(LlamaGradientCheckTest.qwenMqaConfig(), 1, new ModelOptions(DataType.DOUBLE, 1))) {
      assertEquals(1.0, m.parameters().get("model.norm.weight").array().meanNumber().doubleValue(), 0);
      assertEquals(0.0, m.parameters().get("model.layers.1.self_attn.k_proj.bias").array().amaxNumber().doubleValue(), 0);
      double std = m.parameters().get("model.embed_tokens.weight").array().stdNumber().doubleValue();
      assertTrue(std > 0.015 && std < 0.025, "N(0, 0.02): std " + std);
      CausalLm same = LlamaModel.randomInit(LlamaGradientCheckTest.qwenMqaConfig(), 1, new ModelOptions(DataType.DOUBLE, 1));
      assertEquals(m.parameters().flat().array(), same.parameters().flat().array(), "same seed, same weights");
      same.close();
    }
  }

  @Test
  void memoryEstimatesCountTheBuffers() {
    LlamaConfig c = LlamaGradientCheckTest.gqaConfig();
    for (int threads : new int[] {1, 3, 64}) {
      // the workspace's tensors for b = 2, T = 5, counted element by element
      LlamaWorkspace ws = new LlamaWorkspace(c, DataType.FLOAT);
      ws.ensure(2, 5, threads);
      long elements = 0;
      for (LlamaWorkspace.LayerActs a : ws.layers) {
        for (var t : new org.rlhf4j.core.tensor.Tensor[] {a.in, a.rstd1, a.xn1, a.q, a.k, a.v, a.att, a.y, a.mid, a.rstd2, a.xn2, a.gate, a.up, a.act}) {
          elements += t.length();
        }
      }
      for (var t : new org.rlhf4j.core.tensor.Tensor[] {ws.last, ws.rstdF, ws.hidden, ws.logits, ws.lse, ws.q2, ws.k2, ws.v2, ws.yh, ws.dResid, ws.dHidden, ws.dXn, ws.dY,
          ws.dyh, ws.dAtt, ws.dq, ws.dk, ws.dv, ws.dq2, ws.dk2, ws.dv2, ws.dAct, ws.dGate, ws.dUp, ws.dLogits}) {
        elements += t.length();
      }
      ws.close();
      long estimate = LlamaMemory.activationBytes(c, DataType.FLOAT, 2, 5, threads);
      long counted = elements * 4 + 12L * 2 * 5;
      assertTrue(Math.abs(estimate - counted) <= 4L * 2 * 5, threads + " threads: estimate " + estimate + " vs counted " + counted);
    }
    // the attention's per-group scratch grows with the threads that run groups at once, up to the groups
    assertTrue(LlamaMemory.activationBytes(c, DataType.FLOAT, 2, 5, 2) > LlamaMemory.activationBytes(c, DataType.FLOAT, 2, 5, 1));
    assertEquals(
        LlamaMemory.activationBytes(c, DataType.FLOAT, 2, 5, 2 * c.kvHeads()), LlamaMemory.activationBytes(c, DataType.FLOAT, 2, 5, 64));
  }

}
