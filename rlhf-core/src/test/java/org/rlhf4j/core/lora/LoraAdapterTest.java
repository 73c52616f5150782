package org.rlhf4j.core.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.io.SafetensorsReader;
import org.rlhf4j.core.io.SafetensorsWriter;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.tensor.Tensor;
import org.rlhf4j.core.tokenizer.HfFixtures;

class LoraAdapterTest {

  /** The linear layers of a Hugging Face Llama checkpoint: every {@code *_proj.weight} [out, in] and lm_head. */
  static List<LinearModule> llamaLinears(Map<String, INDArray> tensors) {
    List<LinearModule> out = new ArrayList<>();
    for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
      String n = e.getKey();
      if (n.endsWith("_proj.weight") || n.equals("lm_head.weight")) {
        long[] s = e.getValue().shape();
        out.add(new LinearModule(n.substring(0, n.length() - ".weight".length()), (int) s[1], (int) s[0]));
      }
    }
    return out;
  }

  private static Map<String, INDArray> read(Path file) {
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      return r.readAll(DataType.FLOAT);
    }
  }

  /** A small Llama-shaped set of tensors (2 layers, d 8, F 12, kv dim 4) for tests without fixtures. */
  private static Map<String, INDArray> tinyLlama() {
    Map<String, INDArray> t = new LinkedHashMap<>();
    Nd4j.getRandom().setSeed(7);
    t.put("model.embed_tokens.weight", Nd4j.randn(DataType.FLOAT, 16, 8));
    for (int l = 0; l < 2; l++) {
      String p = "model.layers." + l + ".";
      t.put(p + "self_attn.q_proj.weight", Nd4j.randn(DataType.FLOAT, 8, 8));
      t.put(p + "self_attn.k_proj.weight", Nd4j.randn(DataType.FLOAT, 4, 8));
      t.put(p + "self_attn.v_proj.weight", Nd4j.randn(DataType.FLOAT, 4, 8));
      t.put(p + "self_attn.o_proj.weight", Nd4j.randn(DataType.FLOAT, 8, 8));
      t.put(p + "mlp.gate_proj.weight", Nd4j.randn(DataType.FLOAT, 12, 8));
      t.put(p + "mlp.up_proj.weight", Nd4j.randn(DataType.FLOAT, 12, 8));
      t.put(p + "mlp.down_proj.weight", Nd4j.randn(DataType.FLOAT, 8, 12));
      t.put(p + "input_layernorm.weight", Nd4j.ones(DataType.FLOAT, 8));
    }
    t.put("model.norm.weight", Nd4j.ones(DataType.FLOAT, 8));
    t.put("lm_head.weight", Nd4j.randn(DataType.FLOAT, 16, 8));
    t.put("score.weight", Nd4j.randn(DataType.FLOAT, 1, 8));
    return t;
  }

  @Test
  void mergingTheFixtureAdapterGivesPeftsMergedWeights() {
    Path base = HfFixtures.require("llama-gqa-lora-base/model.safetensors");
    Path adapterDir = HfFixtures.require("llama-gqa-lora-adapter");
    Path merged = HfFixtures.require("llama-gqa-lora-merged/model.safetensors");
    Map<String, INDArray> baseTensors = read(base);
    Map<String, INDArray> want = read(merged);
    try (LoraAdapter a = LoraAdapter.load(adapterDir, llamaLinears(baseTensors), Map.of(), DataType.FLOAT)) {
      assertEquals(14, a.modules().size(), "q/k/v/o/gate/up/down of 2 layers; lm_head is not targeted");
      assertFalse(a.adapts("lm_head"));
      assertEquals(2.0, a.scale());
      Map<String, INDArray> got = a.mergedTensors(baseTensors);
      assertEquals(want.keySet(), got.keySet());
      double worst = 0;
      int changed = 0;
      for (String k : want.keySet()) {
        double diff = got.get(k).sub(want.get(k)).amaxNumber().doubleValue();
        worst = Math.max(worst, diff);
        if (!got.get(k).equals(baseTensors.get(k))) {
          changed++;
        }
      }
      assertTrue(worst < 1e-6, "max |ours - PEFT's merged| = " + worst);
      System.out.printf("LoRA merged weights vs PEFT's merge_and_unload: max |difference| %.2e%n", worst);
      assertEquals(14, changed, "exactly the adapted weights change");

      // merge into live weights, then unmerge: bit-exact restore
      Map<String, Tensor> live = new LinkedHashMap<>();
      Map<String, INDArray> copies = new LinkedHashMap<>();
      for (LinearModule m : a.modules()) {
        INDArray w = baseTensors.get(m.name() + ".weight").dup('c');
        copies.put(m.name(), w);
        live.put(m.name(), Tensor.of(w));
      }
      a.merge(live);
      assertTrue(a.isMerged());
      assertFalse(a.active(), "a merged adapter's path must not be added again");
      assertThrows(IllegalStateException.class, () -> a.merge(live));
      assertThrows(IllegalStateException.class, () -> a.setEnabled(false));
      for (LinearModule m : a.modules()) {
        assertTrue(copies.get(m.name()).sub(want.get(m.name() + ".weight")).amaxNumber().doubleValue() < 1e-6);
      }
      a.unmerge();
      assertTrue(a.active());
      for (LinearModule m : a.modules()) {
        assertArrayEquals(
            baseTensors.get(m.name() + ".weight").ravel().toFloatVector(),
            copies.get(m.name()).ravel().toFloatVector(),
            "unmerge restores " + m.name() + " bit for bit");
      }
    }
  }

  @Test
  void saveAndLoadRoundTripTheFixtureInPeftsFormat(@TempDir Path tmp) throws IOException {
    Path base = HfFixtures.require("llama-gqa-lora-base/model.safetensors");
    Path adapterDir = HfFixtures.require("llama-gqa-lora-adapter");
    List<LinearModule> linears = llamaLinears(read(base));
    Path out = tmp.resolve("adapter");
    try (LoraAdapter a = LoraAdapter.load(adapterDir, linears, Map.of(), DataType.FLOAT)) {
      a.save(out);
      try (LoraAdapter b = LoraAdapter.load(out, linears, Map.of(), DataType.FLOAT)) {
        assertEquals(a.config(), b.config());
        assertArrayEquals(a.parameters().flat().array().toFloatVector(), b.parameters().flat().array().toFloatVector());
      }
    }
    Map<String, INDArray> original = read(adapterDir.resolve(LoraAdapter.WEIGHTS_FILE));
    Map<String, INDArray> saved = read(out.resolve(LoraAdapter.WEIGHTS_FILE));
    assertEquals(original.keySet(), saved.keySet(), "the same PEFT keys");
    for (String k : original.keySet()) {
      assertEquals(original.get(k), saved.get(k), k);
    }
    try (SafetensorsReader r = SafetensorsReader.open(out.resolve(LoraAdapter.WEIGHTS_FILE))) {
      assertEquals("pt", r.metadata().get("format"), "PEFT's loader wants format pt");
    }
  }

  @Test
  void newAdapterIsSeededAndStartsAsTheBaseAndOnlyItsTensorsAreOptimised(@TempDir Path tmp) throws IOException {
    Map<String, INDArray> base = tinyLlama();
    LoraConfig cfg =
        LoraConfig.builder().r(2).alpha(4).targetModules(TargetModules.allLinear()).modulesToSave(List.of("score")).build();
    try (LoraAdapter a = LoraAdapter.create(cfg, llamaLinears(base), base, 42, DataType.FLOAT);
        LoraAdapter same = LoraAdapter.create(cfg, llamaLinears(base), base, 42, DataType.FLOAT)) {
      assertEquals(14, a.modules().size(), "all-linear leaves out lm_head");
      assertEquals(a.parameters().flat().array(), same.parameters().flat().array(), "same seed, same adapter");
      for (LinearModule m : a.modules()) {
        assertEquals(0.0, a.b(m.name()).array().amaxNumber().doubleValue(), "B starts at zero");
      }
      Map<String, INDArray> merged = a.mergedTensors(base);
      for (String k : base.keySet()) {
        assertEquals(base.get(k), merged.get(k), "a new adapter leaves " + k + " unchanged");
      }
      assertEquals(List.of("score.weight"), a.savedParameters());
      assertEquals(base.get("score.weight"), a.saved("score.weight").array(), "modules_to_save start as the base's values");
      long expected = 0;
      for (LinearModule m : a.modules()) {
        expected += m.adapterCount(2);
      }
      assertEquals(expected + 8, a.trainableParameterCount());

      // one AdamW step over the adapter alone: moments exist for its tensors only, every one moves
      a.gradients().flat().array().assign(0.5);
      try (AdamW opt = new AdamW(AdamWConfig.builder().learningRate(0.1).build(), a.trainable(1))) {
        assertTrue(opt.step().applied());
        FlatTensors m1 = opt.firstMoments(0);
        assertEquals(a.trainableParameterCount(), m1.layout().totalSize(), "AdamW state is the adapter's size");
      }
      assertTrue(a.b("model.layers.0.self_attn.q_proj").array().amaxNumber().doubleValue() > 0.05);

      a.save(tmp.resolve("with-score"));
      try (LoraAdapter back = LoraAdapter.load(tmp.resolve("with-score"), llamaLinears(base), base, DataType.FLOAT)) {
        assertEquals(a.parameters().flat().array(), back.parameters().flat().array());
        assertEquals(cfg, back.config());
      }
      Map<String, INDArray> saved = read(tmp.resolve("with-score").resolve(LoraAdapter.WEIGHTS_FILE));
      assertTrue(saved.containsKey("base_model.model.score.weight"), "modules_to_save as PEFT names them: " + saved.keySet());
      assertTrue(saved.containsKey("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
    }
  }

  @Test
  void disableIsScopedAndNestsAndUseAfterCloseThrows() {
    Map<String, INDArray> base = tinyLlama();
    LoraConfig cfg = LoraConfig.builder().r(2).targetModules("q_proj").build();
    LoraAdapter a = LoraAdapter.create(cfg, llamaLinears(base), Map.of(), 1, DataType.FLOAT);
    assertTrue(a.active());
    try (LoraAdapter.Disabled off = a.disable()) {
      assertFalse(a.active());
      try (LoraAdapter.Disabled again = a.disable()) {
        assertFalse(a.active());
      }
      assertFalse(a.active(), "the inner scope restores the outer (disabled) state");
    }
    assertTrue(a.active());
    a.close();
    a.close();
    assertThrows(IllegalStateException.class, a::active);
    assertThrows(IllegalStateException.class, a::parameters);
    assertThrows(IllegalStateException.class, () -> a.a("model.layers.0.self_attn.q_proj"));
  }

  @Test
  void badAdapterFilesNameTheFileAndKey(@TempDir Path tmp) throws IOException {
    Map<String, INDArray> base = tinyLlama();
    List<LinearModule> linears = llamaLinears(base);
    LoraConfig cfg = LoraConfig.builder().r(2).alpha(4).targetModules("q_proj", "v_proj").build();
    Path good = tmp.resolve("good");
    try (LoraAdapter a = LoraAdapter.create(cfg, linears, Map.of(), 3, DataType.FLOAT)) {
      a.save(good);
    }
    Map<String, INDArray> tensors = read(good.resolve(LoraAdapter.WEIGHTS_FILE));
    String qa = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";

    Map<String, INDArray> missing = new LinkedHashMap<>(tensors);
    missing.remove(qa);
    assertBad(tmp, "missing", missing, cfg, linears, "missing key " + qa);

    Map<String, INDArray> shape = new LinkedHashMap<>(tensors);
    shape.put(qa, Nd4j.zeros(DataType.FLOAT, 3, 8));
    assertBad(tmp, "shape", shape, cfg, linears, "key " + qa + " has shape [3, 8]");

    Map<String, INDArray> extra = new LinkedHashMap<>(tensors);
    extra.put("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", Nd4j.zeros(DataType.FLOAT, 2, 8));
    assertBad(tmp, "untargeted", extra, cfg, linears, "not targeted");

    Map<String, INDArray> foreign = new LinkedHashMap<>(tensors);
    foreign.put("base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight", Nd4j.zeros(DataType.FLOAT, 2, 8));
    assertBad(tmp, "foreign", foreign, cfg, linears, "the model has no linear layer model.layers.9.self_attn.q_proj");

    Map<String, INDArray> dora = new LinkedHashMap<>(tensors);
    dora.put("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", Nd4j.zeros(DataType.FLOAT, 8));
    assertBad(tmp, "dora", dora, cfg, linears, "unsupported LoRA tensor");

    Map<String, INDArray> nan = new LinkedHashMap<>(tensors);
    nan.put(qa, Nd4j.zeros(DataType.FLOAT, 2, 8).putScalar(3, Float.NaN));
    assertBad(tmp, "nan", nan, cfg, linears, "key " + qa + " holds NaN");

    Map<String, INDArray> ints = new LinkedHashMap<>(tensors);
    ints.put(qa, Nd4j.zeros(DataType.INT32, 2, 8));
    assertBad(tmp, "ints", ints, cfg, linears, "dtype I32");

    // a truncated weights file
    Path cut = tmp.resolve("cut");
    Files.createDirectories(cut);
    PeftAdapterConfig.write(cut.resolve(PeftAdapterConfig.FILE_NAME), cfg);
    byte[] bytes = Files.readAllBytes(good.resolve(LoraAdapter.WEIGHTS_FILE));
    Files.write(cut.resolve(LoraAdapter.WEIGHTS_FILE), java.util.Arrays.copyOf(bytes, bytes.length - 10));
    AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> LoraAdapter.load(cut, linears, Map.of(), DataType.FLOAT));
    assertTrue(e.getMessage().contains(cut.resolve(LoraAdapter.WEIGHTS_FILE).toString()), e.getMessage());

    // no weights file; a config targeting nothing the model has
    Files.delete(cut.resolve(LoraAdapter.WEIGHTS_FILE));
    e = assertThrows(AdapterFormatException.class, () -> LoraAdapter.load(cut, linears, Map.of(), DataType.FLOAT));
    assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    PeftAdapterConfig.write(cut.resolve(PeftAdapterConfig.FILE_NAME), cfg.toBuilder().targetModules("c_attn").build());
    Files.copy(good.resolve(LoraAdapter.WEIGHTS_FILE), cut.resolve(LoraAdapter.WEIGHTS_FILE));
    e = assertThrows(AdapterFormatException.class, () -> LoraAdapter.load(cut, linears, Map.of(), DataType.FLOAT));
    assertTrue(e.getMessage().contains("match none of the model's"), e.getMessage());
  }

  @Test
  void refusesToSaveNonFiniteWeightsAndLeavesTheOldDirectory(@TempDir Path tmp) throws IOException {
    Map<String, INDArray> base = tinyLlama();
    LoraConfig cfg = LoraConfig.builder().r(2).targetModules("q_proj").build();
    Path dir = tmp.resolve("a");
    try (LoraAdapter a = LoraAdapter.create(cfg, llamaLinears(base), Map.of(), 3, DataType.FLOAT)) {
      a.save(dir);
      byte[] before = Files.readAllBytes(dir.resolve(LoraAdapter.WEIGHTS_FILE));
      a.a("model.layers.1.self_attn.q_proj").array().putScalar(0, Float.POSITIVE_INFINITY);
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> a.save(dir));
      assertTrue(e.getMessage().contains("model.layers.1.self_attn.q_proj.lora_A.weight"), e.getMessage());
      assertArrayEquals(before, Files.readAllBytes(dir.resolve(LoraAdapter.WEIGHTS_FILE)));
    }
  }

  private static void assertBad(
      Path tmp, String name, Map<String, INDArray> tensors, LoraConfig cfg, List<LinearModule> linears, String expected)
      throws IOException {
    Path dir = tmp.resolve(name);
    Files.createDirectories(dir);
    PeftAdapterConfig.write(dir.resolve(PeftAdapterConfig.FILE_NAME), cfg);
    SafetensorsWriter.write(dir.resolve(LoraAdapter.WEIGHTS_FILE), tensors, Map.of("format", "pt"));
    AdapterFormatException e =
        assertThrows(AdapterFormatException.class, () -> LoraAdapter.load(dir, linears, Map.of(), DataType.FLOAT), name);
    assertTrue(e.getMessage().contains(dir.resolve(LoraAdapter.WEIGHTS_FILE).toString()), e.getMessage());
    assertTrue(e.getMessage().contains(expected), name + ": " + e.getMessage());
  }
}
