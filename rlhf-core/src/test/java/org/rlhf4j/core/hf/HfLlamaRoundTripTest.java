package org.rlhf4j.core.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.HalfFloats;
import org.rlhf4j.core.io.SafetensorsDtype;
import org.rlhf4j.core.io.SafetensorsReader;
import org.rlhf4j.core.io.SafetensorsWriter;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.llama.LlamaConfig;
import org.rlhf4j.core.model.llama.LlamaLayout;
import org.rlhf4j.core.model.llama.LlamaModel;

/**
 * Export → import of the Llama family: F32 in one file is exact (parameters and logits, scalar head
 * included); BF16 and F16 in several shards with an index give exactly the rounded parameters; a
 * fixture exported and re-imported still matches transformers; and broken folders (missing,
 * unexpected or mis-shaped tensors, an index pointing elsewhere, an untied lm_head under a tied
 * config) are refused with the tensor's name.
 */
class HfLlamaRoundTripTest {
  @TempDir Path tmp;

  private static final TokenBatch BATCH = TokenBatch.of(2, 5, new int[] {1, 2, 3, 4, 5, 0, 0, 7, 8, 9}, new int[] {1, 1, 1, 1, 1, 0, 0, 1, 1, 1});

  private static LlamaModel model(LlamaConfig.Family family, boolean tied, boolean scalarHead) {
    LlamaConfig c = LlamaConfig.builder()
        .family(family)
        .vocabSize(50)
        .hiddenSize(16)
        .intermediateSize(24)
        .layers(2)
        .heads(4)
        .kvHeads(2)
        .contextLength(16)
        .qkvBias(family == LlamaConfig.Family.QWEN2)
        .tiedEmbeddings(tied)
        .scalarHead(scalarHead)
        .build();
    return LlamaModel.randomInit(c, 3, 0.2, new ModelOptions(DataType.FLOAT, 1));
  }

  @Test
  void f32SingleFileIsExact() {
    for (LlamaConfig.Family f : LlamaConfig.Family.values()) {
      try (LlamaModel m = model(f, f == LlamaConfig.Family.QWEN2, true)) {
        Path dir = tmp.resolve(f.modelType());
        HfLlama.export(m, dir, HfLlama.ExportOptions.defaults(), 1, 2);
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")));
        assertTrue(HfLlama.isLlamaFamilyDirectory(dir));
        try (LlamaModel back = HfLlama.load(dir, new ModelOptions(DataType.FLOAT, 1)).model()) {
          assertEquals(m.config(), back.config());
          assertEquals(0.0, m.parameters().flat().array().sub(back.parameters().flat().array()).amaxNumber().doubleValue());
          INDArray a = m.forward(BATCH).values();
          INDArray b = back.forward(BATCH).values();
          assertEquals(a, b);
        }
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("model.safetensors"))) {
          assertEquals(m.config().tiedEmbeddings(), !r.contains(LlamaLayout.LM_HEAD), "a tied head is not written");
          assertTrue(r.contains("v_head.summary.weight"));
        }
      }
    }
  }

  private static float round(float v, SafetensorsDtype dtype) {
    return dtype == SafetensorsDtype.BF16 ? HalfFloats.bfloat16ToFloat(HalfFloats.floatToBfloat16(v)) : HalfFloats.float16ToFloat(HalfFloats.floatToFloat16(v));
  }

  @Test
  void halfPrecisionShardsGiveTheRoundedParameters() throws IOException {
    for (SafetensorsDtype dtype : List.of(SafetensorsDtype.BF16, SafetensorsDtype.F16)) {
      try (LlamaModel m = model(LlamaConfig.Family.LLAMA, false, false)) {
        Path dir = tmp.resolve(dtype.name());
        HfLlama.export(m, dir, new HfLlama.ExportOptions(dtype, 4000), null, null);
        assertFalse(Files.exists(dir.resolve("model.safetensors")));
        List<Path> shards;
        try (Stream<Path> s = Files.list(dir)) {
          shards = s.filter(p -> p.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors")).sorted().toList();
        }
        assertTrue(shards.size() >= 3, "shards: " + shards);
        Map<String, Object> index = HfLlama.readJson(dir.resolve("model.safetensors.index.json"));
        assertEquals(m.parameters().layout().entries().size(), ((Map<?, ?>) index.get("weight_map")).size());
        long total = ((Number) ((Map<?, ?>) index.get("metadata")).get("total_size")).longValue();
        assertEquals(m.parameters().layout().totalSize() * 2, total);
        try (SafetensorsReader r = SafetensorsReader.open(shards.get(0))) {
          assertEquals(dtype, r.tensors().get(0).dtype());
        }
        assertEquals(dtype == SafetensorsDtype.BF16 ? "bfloat16" : "float16", HfLlama.readJson(dir.resolve("config.json")).get("dtype"));
        try (LlamaModel back = HfLlama.load(dir, new ModelOptions(DataType.FLOAT, 1)).model()) {
          float[] want = m.parameters().flat().array().toFloatVector();
          float[] got = back.parameters().flat().array().toFloatVector();
          for (int i = 0; i < want.length; i++) {
            assertEquals(round(want[i], dtype), got[i], 0.0f, dtype + " element " + i);
          }
        }
      }
    }
  }

  @Test
  void fixtureSurvivesExportAndReimport() {
    for (String name : List.of("llama3-rope-scaling-tied", "qwen2")) {
      Path src = HfFixtures.require(name);
      try (LlamaModel m = HfLlama.load(src, new ModelOptions(DataType.FLOAT, 1)).model()) {
        Path dir = tmp.resolve(name);
        HfLlama.export(m, dir, new HfLlama.ExportOptions(SafetensorsDtype.F32, 100_000), 1, 2);
        try (LlamaModel back = HfLlama.load(dir, new ModelOptions(DataType.FLOAT, 1)).model()) {
          assertEquals(m.config(), back.config());
          assertEquals(m.forward(BATCH).logits(), back.forward(BATCH).logits());
        }
        Map<String, Object> orig = HfLlama.readJson(src.resolve("config.json"));
        Map<String, Object> written = HfLlama.readJson(dir.resolve("config.json"));
        for (String key : List.of("model_type", "architectures", "rope_parameters", "tie_word_embeddings", "num_key_value_heads", "rms_norm_eps", "head_dim")) {
          if (orig.containsKey(key)) {
            assertEquals(orig.get(key), written.get(key), name + ": " + key);
          }
        }
      }
    }
  }

  private Path exported(String name) {
    Path dir = tmp.resolve(name);
    try (LlamaModel m = model(LlamaConfig.Family.LLAMA, false, false)) {
      HfLlama.export(m, dir, HfLlama.ExportOptions.defaults(), null, null);
    }
    return dir;
  }

  private static void rewrite(Path file, java.util.function.Consumer<Map<String, INDArray>> edit) {
    Map<String, INDArray> t;
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      t = new LinkedHashMap<>(r.readAll(DataType.FLOAT));
    }
    edit.accept(t);
    SafetensorsWriter.write(file, t, Map.of("format", "pt"));
  }

  private static void refused(Path dir, String... fragments) {
    CheckpointException e = assertThrows(CheckpointException.class, () -> HfLlama.load(dir, new ModelOptions(DataType.FLOAT, 1)).model().close());
    for (String f : fragments) {
      assertTrue(e.getMessage().contains(f), "message lacks \"" + f + "\": " + e.getMessage());
    }
  }

  @Test
  void refusesBrokenFolders() throws IOException {
    Path missing = exported("missing");
    rewrite(missing.resolve("model.safetensors"), t -> t.remove("model.layers.1.mlp.up_proj.weight"));
    refused(missing, "missing [model.layers.1.mlp.up_proj.weight]");

    Path extra = exported("extra");
    rewrite(extra.resolve("model.safetensors"), t -> t.put("model.layers.0.self_attn.o_proj.bias", t.get(LlamaLayout.NORM)));
    refused(extra, "unexpected [model.layers.0.self_attn.o_proj.bias]");

    Path shape = exported("shape");
    rewrite(shape.resolve("model.safetensors"), t -> t.put("model.layers.0.self_attn.k_proj.weight", t.get("model.layers.0.self_attn.q_proj.weight")));
    refused(shape, "model.layers.0.self_attn.k_proj.weight has shape [16, 16]", "[8, 16]");

    Path nan = exported("nan");
    rewrite(nan.resolve("model.safetensors"), t -> t.get(LlamaLayout.NORM).putScalar(3, Float.NaN));
    assertThrows(RuntimeException.class, () -> HfLlama.load(nan, new ModelOptions(DataType.FLOAT, 1)));

    // an index whose entry points at a shard that does not hold the tensor
    Path sharded = tmp.resolve("sharded");
    try (LlamaModel m = model(LlamaConfig.Family.LLAMA, false, false)) {
      HfLlama.export(m, sharded, new HfLlama.ExportOptions(SafetensorsDtype.F32, 8000), null, null);
    }
    Path index = sharded.resolve("model.safetensors.index.json");
    String json = Files.readString(index);
    Files.writeString(index, json.replaceFirst("\"model.embed_tokens.weight\" : \"model-00001-of-", "\"model.embed_tokens.weight\" : \"model-00002-of-"));
    refused(sharded, "model.embed_tokens.weight is mapped to model-00002-of-");
    Files.writeString(index, json.replaceFirst("\"model.embed_tokens.weight\" : \"model-00001-of-\\d+", "\"model.embed_tokens.weight\" : \"../outside"));
    refused(sharded, "model.embed_tokens.weight is mapped to ../outside");

    // a tied config with an lm_head.weight that is not the embedding
    Path tied = tmp.resolve("tied");
    try (LlamaModel m = model(LlamaConfig.Family.QWEN2, true, false)) {
      HfLlama.export(m, tied, HfLlama.ExportOptions.defaults(), null, null);
    }
    rewrite(tied.resolve("model.safetensors"), t -> t.put(LlamaLayout.LM_HEAD, t.get(LlamaLayout.EMBED).mul(2)));
    refused(tied, "lm_head.weight differs from model.embed_tokens.weight", "tie_word_embeddings");
    rewrite(tied.resolve("model.safetensors"), t -> t.put(LlamaLayout.LM_HEAD, t.get(LlamaLayout.EMBED).dup()));
    HfLlama.load(tied, new ModelOptions(DataType.FLOAT, 1)).model().close(); // an equal copy is accepted
  }
}
