package org.rlhf4j.core.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.io.SafetensorsReader;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tensor.Tensor;

/** A PEFT adapter for GPT-2's Conv1D layers ([in, out] weights, fan_in_fan_out) merged into an rlhf4j GPT. */
class Gpt2LoraTest {
  private static final GptConfig CFG = GptConfig.builder().vocabSize(20).dModel(8).heads(2).layers(2).contextLength(8).build();

  @Test
  void aSavedGpt2AdapterMergesIntoTheConv1dWeights(@TempDir Path tmp) throws IOException {
    LoraConfig cfg =
        LoraConfig.builder().r(2).alpha(4).targetModules("c_attn", "c_fc").fanInFanOut(true).init(LoraInit.RANDOM).build();
    Path dir = tmp.resolve("adapter");
    try (GptModel model = GptModel.randomInit(CFG, 1, new ModelOptions(DataType.DOUBLE, 1))) {
      try (LoraAdapter a = LoraAdapter.create(cfg, Gpt2Lora.linearModules(CFG), Map.of(), 2, DataType.DOUBLE)) {
        a.save(dir);
      }
      try (SafetensorsReader r = SafetensorsReader.open(dir.resolve(LoraAdapter.WEIGHTS_FILE))) {
        assertEquals(java.util.List.of(2L, 8L), r.info("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight").shape(),
            "PEFT's Conv1D adapter: A [r, in]");
        assertEquals(java.util.List.of(24L, 2L), r.info("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight").shape(),
            "B [out, r]");
      }
      INDArray ids = Nd4j.createFromArray(new int[][] {{1, 5, 7, 3}});
      INDArray mask = Nd4j.ones(DataType.INT32, 1, 4);
      INDArray before = model.forward(ids, mask).logits().dup();
      INDArray w = model.parameters().get("h.1.attn.c_attn.weight").array().dup();
      INDArray proj = model.parameters().get("h.1.attn.c_proj.weight").array().dup();
      try (LoraAdapter a = Gpt2Lora.load(model, dir)) {
        Gpt2Lora.mergeInto(model, a);
        // x W' = x W + s (x Aᵀ) Bᵀ for the merged [in, out] weight
        INDArray x = Nd4j.rand(DataType.DOUBLE, 3, 8);
        INDArray want = x.mmul(w);
        LoraMath.forward(Tensor.of(x), a.a("transformer.h.1.attn.c_attn"), a.b("transformer.h.1.attn.c_attn"), a.scale(),
            Tensor.of(Nd4j.create(DataType.DOUBLE, 3, 2)), Tensor.of(want), 1);
        INDArray got = x.mmul(model.parameters().get("h.1.attn.c_attn.weight").array());
        assertTrue(got.equalsWithEps(want, 1e-12), "merged Conv1D weight computes base + adapter");
      }
      assertEquals(proj, model.parameters().get("h.1.attn.c_proj.weight").array(), "untargeted layers are unchanged");
      assertNotEquals(before, model.forward(ids, mask).logits());
    }
  }

  @Test
  void aGpt2AdapterWithoutFanInFanOutIsRefused(@TempDir Path tmp) throws IOException {
    LoraConfig cfg = LoraConfig.builder().r(2).targetModules("c_attn").build();
    Path dir = tmp.resolve("adapter");
    try (LoraAdapter a = LoraAdapter.create(cfg, Gpt2Lora.linearModules(CFG), Map.of(), 2, DataType.FLOAT)) {
      a.save(dir);
    }
    try (GptModel model = GptModel.randomInit(CFG, 1, ModelOptions.defaults())) {
      AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> Gpt2Lora.load(model, dir));
      assertTrue(e.getMessage().contains("fan_in_fan_out") && e.getMessage().contains("adapter_config.json"), e.getMessage());
    }
  }
}
