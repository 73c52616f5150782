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

  private static org.rlhf4j.core.model.TokenBatch batch() {
    return org.rlhf4j.core.model.TokenBatch.of(
        3, 5, new int[] {1, 4, 9, 2, 7, 0, 0, 3, 11, 5, 6, 6, 2, 19, 8}, new int[] {1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1});
  }

  @Test
  void adapterGradientsThroughGpt2WithShardsMatchFiniteDifferencesInDouble() {
    // 2 threads and 3 rows: two shards, whose adapter gradients are summed in shard order
    try (GptModel base = GptModel.randomInit(CFG, 3, new ModelOptions(DataType.DOUBLE, 2));
        GptModel model = base.withNewScalarHead(4)) {
      LoraConfig lc = LoraConfig.builder().r(2).alpha(3).targetModules("c_attn", "c_proj", "c_fc").fanInFanOut(true)
          .modulesToSave(java.util.List.of("scalar_head")).init(LoraInit.RANDOM).build();
      try (LoraLayers lora = Gpt2Lora.create(model, lc, 5)) {
        LoraAdapter a = lora.adapter();
        assertEquals(8, a.modules().size());
        java.util.SplittableRandom rng = new java.util.SplittableRandom(6);
        INDArray cLogp = Nd4j.create(DataType.DOUBLE, 3, 4);
        INDArray cVal = Nd4j.create(DataType.DOUBLE, 3, 5);
        for (long i = 0; i < cLogp.length(); i++) {
          cLogp.putScalar(i, rng.nextGaussian());
        }
        for (long i = 0; i < cVal.length(); i++) {
          cVal.putScalar(i, rng.nextGaussian());
        }
        java.util.function.DoubleSupplier loss = () -> {
          org.rlhf4j.core.model.ForwardPass p = model.forward(batch());
          return p.tokenLogProbs(1.0).logProbs().mul(cLogp).sumNumber().doubleValue() + p.values().mul(cVal).sumNumber().doubleValue();
        };
        model.zeroGradients();
        org.rlhf4j.core.model.ForwardPass p = model.forward(batch());
        p.tokenLogProbs(1.0);
        p.values();
        p.backward(new org.rlhf4j.core.model.OutputGradients(cLogp, null, cVal, null));
        for (String m : new String[] {"transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_proj", "transformer.h.0.mlp.c_fc",
            "transformer.h.1.mlp.c_proj"}) {
          org.rlhf4j.core.testing.GradientCheck.assertMatches(m + " A", a.a(m).array(), a.gradA(m).array().dup(), loss, 1e-5);
          org.rlhf4j.core.testing.GradientCheck.assertMatches(m + " B", a.b(m).array(), a.gradB(m).array().dup(), loss, 1e-5);
        }
        org.rlhf4j.core.testing.GradientCheck.assertMatches("scalar_head.weight copy", a.saved("scalar_head.weight").array(),
            a.savedGradient("scalar_head.weight").array().dup(), loss, 1e-5);
        for (String w : new String[] {"wte", "h.0.attn.c_attn.weight", "h.1.mlp.c_proj.weight"}) {
          assertEquals(0.0, model.gradients().get(w).array().amaxNumber().doubleValue(), "frozen base: no gradient for " + w);
        }
      }
    }
  }

  @Test
  void adaptedGpt2EqualsTheMergedModelDecodesAlikeAndDisabledIsTheBase() {
    LoraConfig lc = LoraConfig.builder().r(2).alpha(4).targetModules(TargetModules.allLinear()).fanInFanOut(true)
        .init(LoraInit.RANDOM).build();
    try (GptModel model = GptModel.randomInit(CFG, 8, new ModelOptions(DataType.DOUBLE, 2));
        GptModel merged = model.copy(model.options())) {
      org.rlhf4j.core.model.TokenBatch b = batch();
      INDArray base = model.forward(b).logits().dup();
      try (LoraLayers lora = Gpt2Lora.create(model, lc, 9)) {
        INDArray adapted = model.forward(b).logits().dup();
        assertNotEquals(base, adapted);
        Gpt2Lora.mergeInto(merged, lora.adapter());
        assertTrue(merged.forward(b).logits().equalsWithEps(adapted, 1e-10), "adapter path = merged Conv1D weights");
        try (LoraAdapter.Disabled off = lora.adapter().disable()) {
          assertEquals(base, model.forward(b).logits(), "disabled: exactly the base");
        }
        org.rlhf4j.core.model.TokenBatch prompt =
            org.rlhf4j.core.model.TokenBatch.of(2, 3, new int[] {1, 4, 9, 6, 6, 2}, new int[] {1, 1, 1, 1, 1, 1});
        org.rlhf4j.core.model.TokenBatch full =
            org.rlhf4j.core.model.TokenBatch.of(2, 4, new int[] {1, 4, 9, 2, 6, 6, 2, 19}, new int[] {1, 1, 1, 1, 1, 1, 1, 1});
        try (org.rlhf4j.core.model.DecodeSession s = model.newDecodeSession(2, 4)) {
          s.prefill(prompt);
          INDArray next = s.step(new int[] {2, 19}).dup();
          INDArray want = model.forward(full).logits().get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
              org.nd4j.linalg.indexing.NDArrayIndex.point(3), org.nd4j.linalg.indexing.NDArrayIndex.all());
          assertTrue(next.equalsWithEps(want, 1e-10), "cached decoding adds the adapter too");
        }
        model.setAdapters(null);
      }
    }
  }

  @Test
  void sftTrainerTrainsOnlyTheGpt2Adapter() {
    try (GptModel model = GptModel.randomInit(CFG, 8, new ModelOptions(DataType.FLOAT, 2))) {
      // the tied embedding is not adapted: give it a pre-trained model's scale, so logits can move
      model.parameters().get("wte").array().muli(25);
      INDArray weights = model.parameters().flat().array().dup();
      LoraConfig lc = LoraConfig.builder().r(4).alpha(8).targetModules(TargetModules.allLinear()).fanInFanOut(true).build();
      try (LoraLayers lora = Gpt2Lora.create(model, lc, 10)) {
        int[] ids = new int[60];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = (i * 7) % 20;
        }
        org.rlhf4j.core.sft.SftData data = org.rlhf4j.core.sft.SftData.fromCorpus(ids, 8);
        double before = org.rlhf4j.core.sft.SftTrainer.evaluate(model, data, 4).loss();
        new org.rlhf4j.core.sft.SftTrainer(
                org.rlhf4j.core.sft.SftConfig.builder().learningRate(2e-2).maxSteps(30).batchSize(4).seed(1).build())
            .train(model, data);
        double after = org.rlhf4j.core.sft.SftTrainer.evaluate(model, data, 4).loss();
        assertTrue(after < before - 0.5, "SFT of the adapter alone: " + before + " -> " + after);
        assertEquals(weights, model.parameters().flat().array(), "the GPT's own weights did not change");
        model.setAdapters(null);
      }
    }
  }
}
