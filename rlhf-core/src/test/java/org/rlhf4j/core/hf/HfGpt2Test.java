package org.rlhf4j.core.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.SafetensorsDtype;
import org.rlhf4j.core.io.SafetensorsReader;
import org.rlhf4j.core.io.SafetensorsWriter;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.testing.TestData;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * Hugging Face GPT-2 import and export. The parity fixture holds logits computed by an independent
 * PyTorch implementation ({@code tools/gpt2_reference_logits.py}) from the checkpoint {@link
 * Gpt2Fixture} writes.
 */
class HfGpt2Test {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final ModelOptions FLOAT = new ModelOptions(DataType.FLOAT, 2);

  @TempDir Path tmp;

  private static TokenBatch input() {
    return TokenBatch.of(2, 6, flat(Gpt2Fixture.IDS), flat(Gpt2Fixture.MASK));
  }

  private static int[] flat(int[][] a) {
    return java.util.Arrays.stream(a).flatMapToInt(java.util.Arrays::stream).toArray();
  }

  /** Max abs difference between the model's logits and the PyTorch fixture. */
  private static double parityError(GptModel m) throws IOException {
    JsonNode fixture = JSON.readTree(HfGpt2Test.class.getResourceAsStream("/hf/gpt2-fixture-logits.json"));
    INDArray logits = m.forward(input()).logits().castTo(DataType.DOUBLE);
    double err = 0;
    for (JsonNode p : fixture.get("positions")) {
      INDArray z = logits.get(NDArrayIndex.point(p.get("row").asInt()), NDArrayIndex.point(p.get("position").asInt()), NDArrayIndex.all());
      double lse = z.maxNumber().doubleValue() + Math.log(Transforms.exp(z.sub(z.maxNumber()), true).sumNumber().doubleValue());
      err = Math.max(err, Math.abs(lse - p.get("logsumexp").asDouble()));
      assertEquals(p.get("argmax").asInt(), z.argMax().getInt(0));
      for (int i = 0; i < p.get("every16").size(); i++) {
        err = Math.max(err, Math.abs(z.getDouble(16L * i) - p.get("every16").get(i).asDouble()));
      }
    }
    return err;
  }

  @Test
  void forwardMatchesAnIndependentPyTorchImplementation() throws IOException {
    Gpt2Fixture.write(tmp, SafetensorsDtype.F32);
    HfGpt2.Loaded l = HfGpt2.load(tmp, FLOAT);
    assertEquals(Gpt2Fixture.LAYERS, l.model().config().layers());
    double err = parityError(l.model());
    System.out.println("GPT-2 parity: max abs logit difference to PyTorch (float64) " + err);
    assertTrue(err < 1e-4, "max abs logit difference to PyTorch " + err);
  }

  @Test
  void halfPrecisionWeightsAreConvertedOnLoad() throws IOException {
    for (SafetensorsDtype dt : new SafetensorsDtype[] {SafetensorsDtype.F16, SafetensorsDtype.BF16}) {
      Path dir = tmp.resolve(dt.name());
      Gpt2Fixture.write(dir, dt);
      double err = parityError(HfGpt2.load(dir, FLOAT).model());
      System.out.println("GPT-2 parity with " + dt + " weights: max abs logit difference " + err);
      assertTrue(err < (dt == SafetensorsDtype.F16 ? 0.02 : 0.1), dt + ": max abs logit difference " + err);
    }
  }

  @Test
  void shardedCheckpointsLoad() throws IOException {
    Path single = tmp.resolve("single");
    Gpt2Fixture.write(single, SafetensorsDtype.F32);
    Path sharded = tmp.resolve("sharded");
    Files.createDirectories(sharded);
    Files.copy(single.resolve("config.json"), sharded.resolve("config.json"));
    Map<String, INDArray> a = new LinkedHashMap<>();
    Map<String, INDArray> b = new LinkedHashMap<>();
    Map<String, String> index = new LinkedHashMap<>();
    try (SafetensorsReader r = SafetensorsReader.open(single.resolve("model.safetensors"))) {
      for (String n : r.names()) {
        boolean first = n.startsWith("h.0.") || n.startsWith("wte") || n.startsWith("wpe");
        (first ? a : b).put("transformer." + n, r.read(n, DataType.FLOAT));
        index.put("transformer." + n, first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
      }
    }
    SafetensorsWriter.write(sharded.resolve("model-00001-of-00002.safetensors"), a, Map.of("format", "pt"));
    SafetensorsWriter.write(sharded.resolve("model-00002-of-00002.safetensors"), b, Map.of("format", "pt"));
    JSON.writeValue(sharded.resolve("model.safetensors.index.json").toFile(), Map.of("metadata", Map.of(), "weight_map", index));
    assertEquals(HfGpt2.load(single, FLOAT).model().parameters().flat().array(), HfGpt2.load(sharded, FLOAT).model().parameters().flat().array());
  }

  @Test
  void exportThenImportIsIdentical() throws IOException {
    Gpt2Fixture.write(tmp.resolve("in"), SafetensorsDtype.F32);
    GptModel m = HfGpt2.load(tmp.resolve("in"), FLOAT).model().withNewScalarHead(3);
    HfGpt2.export(m, null, tmp.resolve("out"));
    try (SafetensorsReader r = SafetensorsReader.open(tmp.resolve("out/model.safetensors"))) {
      assertEquals("pt", r.metadata().get("format"));
      assertTrue(r.contains("transformer.h.1.mlp.c_proj.weight") && r.contains("v_head.summary.weight"));
      assertFalse(r.contains("lm_head.weight"));
    }
    JsonNode cfg = JSON.readTree(tmp.resolve("out/config.json").toFile());
    assertEquals("gpt2", cfg.get("model_type").asText());
    GptModel back = HfGpt2.load(tmp.resolve("out"), FLOAT).model();
    assertEquals(m.config(), back.config());
    assertEquals(m.parameters().flat().array(), back.parameters().flat().array());
    assertEquals(m.forward(input()).values(), back.forward(input()).values());
  }

  @Test
  void exportWritesTheGpt2TokenizerFiles() {
    Path shared = TestData.require("gpt2/encoder.json").getParent();
    Tokenizer tok = Gpt2BpeTokenizer.fromDirectory(shared);
    GptConfig c = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(8).heads(2).layers(1).contextLength(16).build();
    HfGpt2.export(GptModel.randomInit(c, 1, FLOAT), tok, tmp.resolve("gpt2"));
    assertTrue(Files.exists(tmp.resolve("gpt2/vocab.json")) && Files.exists(tmp.resolve("gpt2/merges.txt")));
    HfGpt2.Loaded back = HfGpt2.load(tmp.resolve("gpt2"), FLOAT);
    assertEquals(50257, back.tokenizer().get().vocabSize());
    assertEquals(java.util.List.of(15496, 995), java.util.Arrays.stream(back.tokenizer().get().encode("Hello world")).boxed().toList());
  }

  /**
   * A tiny folder whose config.json claims a huge model is refused from the safetensors headers,
   * before the model is allocated (2e9 x 8 floats would be 64 GB of native memory).
   */
  @Test
  void aHugeConfigIsRefusedBeforeAllocating() throws IOException {
    Path dir = tmp.resolve("huge");
    Gpt2Fixture.write(dir, SafetensorsDtype.F32);
    ObjectNode cfg = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
    cfg.put("vocab_size", 2_000_000_000);
    JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
    CheckpointException e = assertThrows(CheckpointException.class, () -> HfGpt2.load(dir, FLOAT));
    assertTrue(
        e.getMessage().contains("tensor wte.weight has shape") && e.getMessage().contains("config.json implies [2000000000, "),
        e.getMessage());
    cfg.put("n_embd", 65536);
    cfg.put("n_head", 1);
    cfg.putNull("n_inner");
    JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
    e = assertThrows(CheckpointException.class, () -> HfGpt2.load(dir, FLOAT));
    assertTrue(e.getMessage().contains("parameters; refusing (limit 2^40)"), e.getMessage());
    cfg.put("n_layer", 2_000_000_000);
    JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
    e = assertThrows(CheckpointException.class, () -> HfGpt2.load(dir, FLOAT));
    assertTrue(e.getMessage().contains("2000000000 layers, which need at least 24000000000 tensors"), e.getMessage());
  }

  @Test
  void nonFiniteWeightsAreRefusedNamingTheTensor() throws IOException {
    Path dir = tmp.resolve("nan");
    Gpt2Fixture.write(dir, SafetensorsDtype.F32);
    Map<String, INDArray> t = new LinkedHashMap<>();
    try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("model.safetensors"))) {
      for (String n : r.names()) {
        t.put(n, r.read(n, DataType.FLOAT));
      }
    }
    String name = t.containsKey("h.0.mlp.c_fc.bias") ? "h.0.mlp.c_fc.bias" : "transformer.h.0.mlp.c_fc.bias";
    t.get(name).putScalar(3, Float.NaN);
    t.get(name).putScalar(5, Float.POSITIVE_INFINITY);
    SafetensorsWriter.write(dir.resolve("model.safetensors"), t, Map.of("format", "pt"));
    CheckpointException e = assertThrows(CheckpointException.class, () -> HfGpt2.load(dir, FLOAT));
    assertTrue(
        e.getMessage().contains("tensor " + name + " has 2 non-finite value(s)") && e.getMessage().contains("flat index 3"),
        e.getMessage());
    System.setProperty(org.rlhf4j.core.io.ModelCheckpoint.ALLOW_NON_FINITE_PROPERTY, "true");
    try {
      HfGpt2.load(dir, FLOAT).model().close();
    } finally {
      System.clearProperty(org.rlhf4j.core.io.ModelCheckpoint.ALLOW_NON_FINITE_PROPERTY);
    }
  }

  @Test
  void mismatchesAreErrorsListingTheNames() throws IOException {
    Path dir = tmp.resolve("bad");
    Gpt2Fixture.write(dir, SafetensorsDtype.F32);
    Map<String, INDArray> t = new LinkedHashMap<>();
    try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("model.safetensors"))) {
      for (String n : r.names()) {
        if (!n.equals("h.1.ln_2.bias")) {
          t.put(n, r.read(n, DataType.FLOAT));
        }
      }
    }
    t.put("h.0.attn.rotary", t.get("ln_f.bias"));
    SafetensorsWriter.write(dir.resolve("model.safetensors"), t, Map.of("format", "pt"));
    CheckpointException e = assertThrows(CheckpointException.class, () -> HfGpt2.load(dir, FLOAT));
    assertTrue(e.getMessage().contains("h.1.ln_2.bias") && e.getMessage().contains("h.0.attn.rotary"), e.getMessage());

    Path shape = tmp.resolve("shape");
    Gpt2Fixture.write(shape, SafetensorsDtype.F32);
    ObjectNode cfg = (ObjectNode) JSON.readTree(shape.resolve("config.json").toFile());
    cfg.put("n_positions", 16);
    JSON.writeValue(shape.resolve("config.json").toFile(), cfg);
    e = assertThrows(CheckpointException.class, () -> HfGpt2.load(shape, FLOAT));
    assertTrue(e.getMessage().contains("wpe.weight") && e.getMessage().contains("config.json"), e.getMessage());

    cfg.put("n_positions", 32);
    cfg.put("model_type", "llama");
    JSON.writeValue(shape.resolve("config.json").toFile(), cfg);
    e = assertThrows(CheckpointException.class, () -> HfGpt2.load(shape, FLOAT));
    assertTrue(e.getMessage().contains("llama") && e.getMessage().contains("unsupported architecture"), e.getMessage());

    cfg.put("model_type", "gpt2");
    cfg.put("activation_function", "gelu");
    JSON.writeValue(shape.resolve("config.json").toFile(), cfg);
    e = assertThrows(CheckpointException.class, () -> HfGpt2.load(shape, FLOAT));
    assertTrue(e.getMessage().contains("activation_function"), e.getMessage());
  }
}
