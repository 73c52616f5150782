package org.rlhf4j.core.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.hf.HfLlama;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.llama.LlamaConfig;
import org.rlhf4j.core.model.llama.LlamaDecodeSession;
import org.rlhf4j.core.model.llama.LlamaForwardPass;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.testing.GradientCheck;
import org.rlhf4j.core.tokenizer.HfFixtures;

/**
 * LoRA on the Llama model: parity with PEFT's fixture (base + adapter, adapter disabled, merged),
 * cached decoding, gradients of every adapter tensor kind through the whole model in double, and
 * training that changes the adapter alone.
 */
class LlamaLoraTest {
  private static final double TOLERANCE = 1e-4;

  private record Ref(TokenBatch batch, double[][][] logits) {}

  private static Ref ref(Path file) throws IOException {
    JsonNode r = new ObjectMapper().readTree(file.toFile());
    JsonNode ids = r.get("input_ids");
    JsonNode mask = r.get("attention_mask");
    int b = ids.size();
    int t = ids.get(0).size();
    int[] idv = new int[b * t];
    int[] mv = new int[b * t];
    double[][][] logits = new double[b][t][];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < t; j++) {
        idv[i * t + j] = ids.get(i).get(j).asInt();
        mv[i * t + j] = mask.get(i).get(j).asInt();
        JsonNode row = r.get("logits_real_positions").get(i).get(j);
        if (row != null && !row.isNull()) {
          logits[i][j] = new double[row.size()];
          for (int v = 0; v < row.size(); v++) {
            logits[i][j][v] = row.get(v).asDouble();
          }
        }
      }
    }
    return new Ref(TokenBatch.of(b, t, idv, mv), logits);
  }

  private static double maxDiff(INDArray logits, Ref ref) {
    double max = 0;
    int checked = 0;
    for (int i = 0; i < ref.batch().batchSize(); i++) {
      for (int j = 0; j < ref.batch().length(); j++) {
        if (ref.batch().mask(i, j) == 1) {
          double[] want = ref.logits()[i][j];
          for (int v = 0; v < want.length; v++) {
            max = Math.max(max, Math.abs(logits.getDouble(i, j, v) - want[v]));
          }
          checked++;
        }
      }
    }
    assertTrue(checked >= 10, "real positions checked: " + checked);
    return max;
  }

  @Test
  void fixtureAdapterMatchesPeftEnabledDisabledMergedAndDecoded() throws IOException {
    Path baseDir = HfFixtures.require("llama-gqa-lora-base");
    Path adapterDir = HfFixtures.require("llama-gqa-lora-adapter");
    Path mergedDir = HfFixtures.require("llama-gqa-lora-merged");
    Ref baseRef = ref(baseDir.resolve("ref.json"));
    Ref adaptedRef = ref(adapterDir.resolve("ref.json"));
    Ref mergedRef = ref(mergedDir.resolve("ref.json"));
    try (LlamaModel model = HfLlama.load(baseDir, new ModelOptions(DataType.FLOAT, 2)).model()) {
      INDArray plain = model.forward(baseRef.batch()).logits().dup();
      assertTrue(maxDiff(plain, baseRef) < TOLERANCE);
      INDArray baseWeights = model.parameters().flat().array().dup();
      try (LoraLayers lora = LlamaLora.load(model, adapterDir)) {
        LoraAdapter a = lora.adapter();
        INDArray adapted = model.forward(adaptedRef.batch()).logits().dup();
        double dAdapted = maxDiff(adapted, adaptedRef);
        assertTrue(dAdapted < TOLERANCE, "base + adapter vs PEFT: " + dAdapted);
        assertTrue(maxDiff(adapted, baseRef) > 0.01, "the adapter must change the logits for this check to mean anything");

        try (LoraAdapter.Disabled off = a.disable()) {
          INDArray disabled = model.forward(baseRef.batch()).logits();
          assertEquals(plain, disabled, "disabled adapter = the base model, exactly (the PPO reference)");
        }

        // cached decoding with the adapter: prefill all but the last token of an unpadded row, then one step
        TokenBatch row = TokenBatch.of(1, 8, new int[] {5, 300, 7, 511, 42, 256, 900, 17}, new int[] {1, 1, 1, 1, 1, 1, 1, 1});
        TokenBatch prompt = TokenBatch.of(1, 7, new int[] {5, 300, 7, 511, 42, 256, 900}, new int[] {1, 1, 1, 1, 1, 1, 1});
        try (LlamaDecodeSession s = model.newDecodeSession(1, 8)) {
          INDArray first = s.prefill(prompt).dup();
          INDArray next = s.step(new int[] {17}).dup();
          INDArray full = model.forward(row).logits();
          double d1 = first.sub(full.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.point(6),
              org.nd4j.linalg.indexing.NDArrayIndex.all()).reshape(1, -1)).amaxNumber().doubleValue();
          double d2 = next.sub(full.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.point(7),
              org.nd4j.linalg.indexing.NDArrayIndex.all()).reshape(1, -1)).amaxNumber().doubleValue();
          assertTrue(d1 < 1e-4 && d2 < 1e-4, "cached decoding with the adapter: " + d1 + ", " + d2);
          double dRef = 0;
          for (int v = 0; v < 1024; v++) {
            dRef = Math.max(dRef, Math.abs(next.getDouble(0, v) - adaptedRef.logits()[0][7][v]));
          }
          assertTrue(dRef < TOLERANCE, "decoded logits vs PEFT: " + dRef);
        }

        a.merge(LlamaLora.baseWeights(model, a));
        INDArray merged = model.forward(mergedRef.batch()).logits().dup();
        double dMerged = maxDiff(merged, mergedRef);
        assertTrue(dMerged < TOLERANCE, "merged vs PEFT's merge_and_unload: " + dMerged);
        a.unmerge();
        System.out.printf("LoRA fixture parity (max |logit difference| vs PEFT): base + adapter %.2e, merged %.2e%n", dAdapted, dMerged);
        assertEquals(baseWeights, model.parameters().flat().array(), "unmerge restores the base weights bit for bit");
        assertEquals(adapted, model.forward(adaptedRef.batch()).logits(), "and the adapted model computes what it did");
        model.setAdapters(null);
      }
      assertEquals(baseWeights, model.parameters().flat().array(), "the base weights were never changed");
    }
  }

  /**
   * Adapters on the upper layer only (q_proj and gate_proj of layer 1): on a frozen base the backward
   * pass stops at layer 1 (nothing below needs a gradient); the adapter's gradients still match finite
   * differences, and equal those of the same adapter on a base that is trained too (whose backward
   * runs through every layer).
   */
  @Test
  void backwardStopsAtTheLowestAdaptedLayerWithTheSameAdapterGradients() {
    LlamaConfig cfg = tiny();
    LoraConfig lc =
        LoraConfig.builder().r(2).alpha(3).targetModules(TargetModules.regex("model\\.layers\\.1\\.(self_attn\\.q_proj|mlp\\.gate_proj)"))
            .init(LoraInit.RANDOM).build();
    TokenBatch b = batch();
    INDArray cLogp = Nd4j.create(DataType.DOUBLE, 2, 4);
    SplittableRandom rng = new SplittableRandom(8);
    for (long i = 0; i < cLogp.length(); i++) {
      cLogp.putScalar(i, rng.nextGaussian());
    }
    INDArray[] grads = new INDArray[2];
    for (int run = 0; run < 2; run++) {
      boolean frozen = run == 0;
      try (LlamaModel model = LlamaModel.randomInit(cfg, 3, 0.3, new ModelOptions(DataType.DOUBLE, 1))) {
        LoraAdapter a = LoraAdapter.create(lc, LlamaLora.linearModules(cfg), LoraLayers.views(model.parameters()), 5, DataType.DOUBLE);
        try (LoraLayers lora = new LoraLayers(a, frozen)) {
          model.setAdapters(lora);
          assertEquals(2, a.modules().size());
          assertTrue(lora.adapts("model.layers.1.mlp.gate_proj"));
          assertFalse(lora.adapts("model.layers.0.mlp.gate_proj"));
          model.zeroGradients();
          a.zeroGradients();
          LlamaForwardPass p = model.forward(b);
          p.tokenLogProbs(1.0);
          p.backward(OutputGradients.ofLogProbs(cLogp));
          grads[run] = a.gradients().flat().array().dup();
          if (frozen) {
            java.util.function.DoubleSupplier loss = () -> model.forward(b).tokenLogProbs(1.0).logProbs().mul(cLogp).sumNumber().doubleValue();
            for (String m : new String[] {"model.layers.1.self_attn.q_proj", "model.layers.1.mlp.gate_proj"}) {
              GradientCheck.assertMatches(m + " A", a.a(m).array(), a.gradA(m).array().dup(), loss, 1e-5);
              GradientCheck.assertMatches(m + " B", a.b(m).array(), a.gradB(m).array().dup(), loss, 1e-5);
            }
            assertFalse(model.gradientsAllocated());
          } else {
            assertTrue(model.gradients().flat().array().amaxNumber().doubleValue() > 0, "the trained base got gradients");
          }
          model.setAdapters(null);
        }
      }
    }
    assertTrue(grads[0].amaxNumber().doubleValue() > 0);
    assertEquals(0.0, grads[0].sub(grads[1]).amaxNumber().doubleValue(), 1e-12 * grads[0].amaxNumber().doubleValue());
  }

  private static LlamaConfig tiny() {
    return LlamaConfig.builder().vocabSize(16).hiddenSize(8).intermediateSize(12).layers(2).heads(2).kvHeads(1).headDim(4)
        .contextLength(8).qkvBias(true).build();
  }

  private static TokenBatch batch() {
    return TokenBatch.of(2, 5, new int[] {1, 4, 9, 2, 7, 0, 0, 3, 11, 5}, new int[] {1, 1, 1, 1, 1, 0, 0, 1, 1, 1});
  }

  @Test
  void adapterGradientsThroughTheWholeModelMatchFiniteDifferencesInDouble() {
    LlamaConfig cfg = tiny();
    try (LlamaModel base = LlamaModel.randomInit(cfg, 3, 0.3, new ModelOptions(DataType.DOUBLE, 1));
        LlamaModel model = base.withNewScalarHead(4)) {
      LoraConfig lc =
          LoraConfig.builder().r(2).alpha(3).targetModules(TargetModules.regex(".*_proj|lm_head"))
              .modulesToSave(List.of("scalar_head")).init(LoraInit.RANDOM).build();
      try (LoraLayers lora = LlamaLora.create(model, lc, 5)) {
        LoraAdapter a = lora.adapter();
        assertEquals(15, a.modules().size(), "7 projections per layer and lm_head");
        TokenBatch b = batch();
        SplittableRandom rng = new SplittableRandom(6);
        INDArray cLogp = Nd4j.create(DataType.DOUBLE, 2, 4);
        INDArray cVal = Nd4j.create(DataType.DOUBLE, 2, 5);
        for (long i = 0; i < cLogp.length(); i++) {
          cLogp.putScalar(i, rng.nextGaussian());
        }
        for (long i = 0; i < cVal.length(); i++) {
          cVal.putScalar(i, rng.nextGaussian());
        }
        java.util.function.DoubleSupplier loss =
            () -> {
              LlamaForwardPass p = model.forward(b);
              return p.tokenLogProbs(1.0).logProbs().mul(cLogp).sumNumber().doubleValue()
                  + p.values().mul(cVal).sumNumber().doubleValue();
            };
        model.zeroGradients();
        a.zeroGradients();
        LlamaForwardPass p = model.forward(b);
        p.tokenLogProbs(1.0);
        p.values();
        p.backward(new OutputGradients(cLogp, null, cVal, null));
        for (String m : new String[] {"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.1.self_attn.v_proj",
            "model.layers.0.self_attn.o_proj", "model.layers.1.mlp.gate_proj", "model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj",
            "lm_head"}) {
          GradientCheck.assertMatches(m + " A", a.a(m).array(), a.gradA(m).array().dup(), loss, 1e-5);
          GradientCheck.assertMatches(m + " B", a.b(m).array(), a.gradB(m).array().dup(), loss, 1e-5);
        }
        GradientCheck.assertMatches("scalar_head.weight copy", a.saved("scalar_head.weight").array(),
            a.savedGradient("scalar_head.weight").array().dup(), loss, 1e-5);
        GradientCheck.assertMatches("scalar_head.bias copy", a.saved("scalar_head.bias").array(),
            a.savedGradient("scalar_head.bias").array().dup(), loss, 1e-5);
        assertFalse(model.gradientsAllocated(), "frozen base: the model's own gradient buffer is never allocated");
      }
    }
  }

  @Test
  void trainingChangesTheAdapterAloneAndTheDisabledModelIsTheBase(@TempDir Path tmp) throws IOException {
    LlamaConfig cfg = tiny();
    try (LlamaModel model = LlamaModel.randomInit(cfg, 7, 0.3, new ModelOptions(DataType.FLOAT, 2))) {
      TokenBatch b = batch();
      INDArray before = model.forward(b).logits().dup();
      INDArray weights = model.parameters().flat().array().dup();
      LoraConfig lc = LoraConfig.builder().r(4).alpha(8).targetModules(TargetModules.allLinear()).build();
      try (LoraLayers lora = LlamaLora.create(model, lc, 8);
          AdamW opt = new AdamW(AdamWConfig.builder().learningRate(0.05).build(), lora.adapter().trainable(2))) {
        LoraAdapter a = lora.adapter();
        assertEquals(before, model.forward(b).logits(), "a new adapter (B = 0) leaves the model unchanged");
        double first = 0;
        double last = 0;
        for (int step = 0; step < 15; step++) {
          a.zeroGradients();
          LlamaForwardPass p = model.forward(b);
          INDArray logp = p.tokenLogProbs(1.0).logProbs();
          double nll = -logp.sumNumber().doubleValue();
          if (step == 0) {
            first = nll;
          }
          last = nll;
          p.backward(OutputGradients.ofLogProbs(Nd4j.zeros(DataType.FLOAT, 2, 4).subi(1)));
          assertTrue(opt.step(nll).applied());
        }
        assertTrue(last < 0.8 * first, "SFT on the adapter alone lowers the loss: " + first + " -> " + last);
        assertFalse(model.gradientsAllocated(), "no gradient buffer for the frozen base");
        assertEquals(weights, model.parameters().flat().array(), "the base weights did not change");
        assertEquals(lora.adapter().trainableParameterCount(), opt.firstMoments(0).layout().totalSize());
        INDArray adapted = model.forward(b).logits().dup();
        assertNotEquals(before, adapted);
        try (LoraAdapter.Disabled off = a.disable()) {
          assertEquals(before, model.forward(b).logits(), "adapter disabled: the reference is the untouched base");
        }
        a.save(tmp.resolve("adapter"));
      }
      model.setAdapters(null);
      assertEquals(before, model.forward(b).logits());
      try (LoraLayers again = LlamaLora.load(model, tmp.resolve("adapter"))) {
        INDArray reloaded = model.forward(b).logits();
        assertNotEquals(before, reloaded);
        // merge for good: the model alone now computes the adapted logits
        INDArray adaptedAgain = reloaded.dup();
        LlamaLora.mergeAndUnload(model, again);
        assertEquals(null, model.adapters());
        assertTrue(model.forward(b).logits().sub(adaptedAgain).amaxNumber().doubleValue() < 1e-5);
        assertThrows(IllegalStateException.class, () -> again.adapter().parameters(), "merged and unloaded: closed");
      }
    }
  }

  @Test
  void resumableTrainerCheckpointsOfLoraTrainingAreRefusedClearly(@TempDir Path tmp) {
    try (LlamaModel model = LlamaModel.randomInit(tiny(), 7, 0.3, new ModelOptions(DataType.FLOAT, 1));
        LoraLayers lora = LlamaLora.create(model, LoraConfig.builder().r(2).targetModules("q_proj").build(), 1)) {
      int[] ids = new int[40];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = i % 16;
      }
      org.rlhf4j.core.sft.SftData data = org.rlhf4j.core.sft.SftData.fromCorpus(ids, 8);
      org.rlhf4j.core.io.CheckpointException e =
          assertThrows(
              org.rlhf4j.core.io.CheckpointException.class,
              () -> org.rlhf4j.core.sft.SftTrainer.builder(
                      org.rlhf4j.core.sft.SftConfig.builder().learningRate(1e-3).maxSteps(4).batchSize(2).seed(1).build())
                  .checkpoints(tmp.resolve("ckpt"), 2)
                  .build()
                  .train(model, data));
      assertTrue(e.getMessage().contains("LoRA") && e.getMessage().contains("LoraAdapter.save"), e.getMessage());
      model.setAdapters(null);
    }
  }
}
