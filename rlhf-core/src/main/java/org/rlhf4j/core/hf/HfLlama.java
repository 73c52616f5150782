package org.rlhf4j.core.hf;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.io.AtomicFiles;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.SafetensorsDtype;
import org.rlhf4j.core.io.SafetensorsReader;
import org.rlhf4j.core.io.SafetensorsWriter;
import org.rlhf4j.core.io.TensorInfo;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.llama.LlamaConfig;
import org.rlhf4j.core.model.llama.LlamaLayout;
import org.rlhf4j.core.model.llama.LlamaModel;

/**
 * Hugging Face {@code LlamaForCausalLM}, {@code Qwen2ForCausalLM} and {@code MistralForCausalLM}
 * checkpoints (SmolLM2, Llama 3.x, Qwen2/2.5, Mistral and their fine-tunes) in and out of {@link
 * LlamaModel}, with no Python.
 *
 * <p><b>Import</b> reads {@code config.json} (see {@link HfLlamaConfig}) and {@code
 * model.safetensors} or the shards listed in {@code model.safetensors.index.json}; F32, F16 and BF16
 * tensors (F64 too) are converted on load. Every tensor of {@link LlamaLayout} is required under its
 * Hugging Face name; {@code lm_head.weight}, when the head is tied, may be present only if it equals
 * the embedding; old checkpoints' {@code rotary_emb.inv_freq} buffers are skipped (the frequencies
 * come from the config); a value head ({@code v_head.summary.weight|bias}, TRL) or a one-label score
 * head ({@code score.weight}) becomes the scalar head. Anything else — a missing or unknown tensor, a
 * shape that contradicts {@code config.json}, a non-finite weight — is an error naming the tensors.
 *
 * <p><b>Export</b> writes {@code config.json} (transformers 5's form) and the weights in F32, F16 or
 * BF16, as one {@code model.safetensors} or, past a shard size, as {@code
 * model-0000i-of-0000n.safetensors} shards with {@code model.safetensors.index.json}, as {@code
 * save_pretrained} does; the directory appears atomically.
 */
public final class HfLlama {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final Pattern INV_FREQ = Pattern.compile("model\\.(layers\\.\\d+\\.self_attn\\.)?rotary_emb\\.inv_freq");

  /** A loaded model and its {@code config.json}. */
  public record Loaded(LlamaModel model, Map<String, Object> config) {}

  /**
   * How {@link #export} writes weights.
   *
   * @param dtype F32, F16 or BF16
   * @param maxShardBytes the largest shard; a model bigger than this is split into shards with an
   *     index ({@code Long.MAX_VALUE}: one file)
   */
  public record ExportOptions(SafetensorsDtype dtype, long maxShardBytes) {
    /** Validates the options. */
    public ExportOptions {
      checkNotNull(dtype, "dtype");
      checkArgument(
          dtype == SafetensorsDtype.F32 || dtype == SafetensorsDtype.F16 || dtype == SafetensorsDtype.BF16,
          "export dtype must be F32, F16 or BF16, got %s",
          dtype);
      checkArgument(maxShardBytes >= 1, "maxShardBytes must be positive, got %s", maxShardBytes);
    }

    /** F32 in one file. */
    public static ExportOptions defaults() {
      return new ExportOptions(SafetensorsDtype.F32, Long.MAX_VALUE);
    }
  }

  private HfLlama() {}

  /** Whether {@code dir}'s {@code config.json} names a family this class reads. */
  public static boolean isLlamaFamilyDirectory(Path dir) {
    if (!HfGpt2.isHfDirectory(dir)) {
      return false;
    }
    Object type = readJson(dir.resolve("config.json")).get("model_type");
    return "llama".equals(type) || "qwen2".equals(type) || "mistral".equals(type);
  }

  /** Loads the model in {@code dir}. */
  public static Loaded load(Path dir, ModelOptions options) {
    checkNotNull(dir, "dir");
    checkNotNull(options, "options");
    Path configFile = dir.resolve("config.json");
    Map<String, Object> cfg = readJson(configFile);
    Map<String, Path> where = weightFiles(dir);
    boolean valueHead = where.containsKey("v_head.summary.weight");
    boolean scoreHead = where.containsKey("score.weight");
    LlamaConfig config = HfLlamaConfig.read(cfg, configFile).toBuilder().scalarHead(valueHead || scoreHead).build();
    ParameterLayout layout = LlamaLayout.of(config);
    TreeSet<String> missing = new TreeSet<>();
    for (ParameterLayout.Entry e : layout.entries()) {
      String hf = hfName(e.name(), scoreHead);
      if (hf != null && !where.containsKey(hf)) {
        missing.add(hf);
      }
    }
    List<String> unknown = new ArrayList<>();
    for (String n : new TreeMap<>(where).keySet()) {
      boolean known = layout.contains(n)
          || INV_FREQ.matcher(n).matches()
          || (n.equals(LlamaLayout.LM_HEAD) && config.tiedEmbeddings())
          || (config.scalarHead() && (n.equals("v_head.summary.weight") || n.equals("v_head.summary.bias") || n.equals("score.weight")));
      if (!known) {
        unknown.add(n);
      }
    }
    if (!missing.isEmpty() || !unknown.isEmpty()) {
      throw new CheckpointException(dir + ": the " + config.family().architecture() + " weights do not match config.json; missing " + missing + ", unexpected " + unknown);
    }
    Map<Path, SafetensorsReader> readers = new LinkedHashMap<>();
    try {
      // Every shape is checked against config.json before the model is allocated.
      for (ParameterLayout.Entry e : layout.entries()) {
        String hf = hfName(e.name(), scoreHead);
        if (hf != null) {
          TensorInfo info = readers.computeIfAbsent(where.get(hf), SafetensorsReader::open).info(hf);
          if (!shapeMatches(info.shapeArray(), e.shape())) {
            throw new CheckpointException(where.get(hf) + ": tensor " + hf + " has shape " + info.shape() + ", but config.json implies " + Arrays.toString(e.shape()));
          }
        }
      }
      LlamaModel model = LlamaModel.uninitialized(config, options);
      try {
        for (ParameterLayout.Entry e : layout.entries()) {
          String hf = hfName(e.name(), scoreHead);
          INDArray target = model.parameters().get(e.name()).array();
          if (hf == null) {
            target.assign(0); // score.weight has no bias
            continue;
          }
          SafetensorsReader r = readers.get(where.get(hf));
          TensorInfo info = r.info(hf);
          r.readInto(hf, info.shapeArray().length == e.shape().length ? target : target.reshape(info.shapeArray()));
          ModelCheckpoint.checkFinite(target, hf, where.get(hf).toString());
        }
        if (config.tiedEmbeddings() && where.containsKey(LlamaLayout.LM_HEAD)) {
          SafetensorsReader r = readers.computeIfAbsent(where.get(LlamaLayout.LM_HEAD), SafetensorsReader::open);
          INDArray head = r.read(LlamaLayout.LM_HEAD, model.dataType());
          INDArray embed = model.parameters().get(LlamaLayout.EMBED).array();
          if (!Arrays.equals(head.shape(), embed.shape())
              || head.sub(embed).amaxNumber().doubleValue() > 1e-6 * Math.max(1, embed.amaxNumber().doubleValue())) {
            throw new CheckpointException(
                where.get(LlamaLayout.LM_HEAD) + ": lm_head.weight differs from model.embed_tokens.weight, but config.json has tie_word_embeddings: true");
          }
        }
      } catch (RuntimeException e) {
        model.close();
        throw e;
      }
      return new Loaded(model, cfg);
    } finally {
      for (SafetensorsReader r : readers.values()) {
        r.close();
      }
    }
  }

  /**
   * Writes {@code model} to {@code dir} in Hugging Face's layout, atomically: {@code
   * from_pretrained(dir)} of the family's {@code ...ForCausalLM} loads it. {@code bosId} and {@code
   * eosId} (may be {@code null}) go into {@code config.json}.
   */
  public static void export(LlamaModel model, Path dir, ExportOptions options, Integer bosId, Integer eosId) {
    checkNotNull(model, "model");
    checkNotNull(dir, "dir");
    checkNotNull(options, "options");
    LlamaConfig c = model.config();
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    for (ParameterLayout.Entry e : model.parameters().layout().entries()) {
      INDArray v = model.parameters().get(e.name()).array().castTo(DataType.FLOAT);
      ModelCheckpoint.checkFinite(v, e.name(), "the model being exported");
      switch (e.name()) {
        case LlamaLayout.SCALAR_W -> tensors.put("v_head.summary.weight", v.reshape(1, c.hiddenSize()));
        case LlamaLayout.SCALAR_B -> tensors.put("v_head.summary.bias", v);
        default -> tensors.put(e.name(), v);
      }
    }
    // shards in order, each at most maxShardBytes (a tensor larger than that gets a shard of its own)
    List<Map<String, INDArray>> shards = new ArrayList<>();
    Map<String, INDArray> current = new LinkedHashMap<>();
    long currentBytes = 0;
    long total = 0;
    for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
      long bytes = e.getValue().length() * options.dtype().size();
      total += bytes;
      if (!current.isEmpty() && currentBytes + bytes > options.maxShardBytes()) {
        shards.add(current);
        current = new LinkedHashMap<>();
        currentBytes = 0;
      }
      current.put(e.getKey(), e.getValue());
      currentBytes += bytes;
    }
    shards.add(current);
    long totalSize = total;
    try {
      AtomicFiles.publishDirectory(
          dir,
          tmp -> {
            if (shards.size() == 1) {
              writeShard(tmp.resolve("model.safetensors"), shards.get(0), options.dtype());
            } else {
              Map<String, String> weightMap = new LinkedHashMap<>();
              for (int i = 0; i < shards.size(); i++) {
                String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                writeShard(tmp.resolve(name), shards.get(i), options.dtype());
                for (String t : shards.get(i).keySet()) {
                  weightMap.put(t, name);
                }
              }
              Map<String, Object> index = new LinkedHashMap<>();
              index.put("metadata", Map.of("total_size", totalSize));
              index.put("weight_map", new TreeMap<>(weightMap));
              Files.writeString(tmp.resolve("model.safetensors.index.json"), JSON.writeValueAsString(index));
            }
            Map<String, Object> cfg = HfLlamaConfig.write(c, bosId, eosId);
            cfg.put("dtype", switch (options.dtype()) {
              case F16 -> "float16";
              case BF16 -> "bfloat16";
              default -> "float32";
            });
            Files.writeString(tmp.resolve("config.json"), JSON.writeValueAsString(cfg));
          });
    } catch (IOException e) {
      throw new CheckpointException("cannot export " + dir + ": " + e.getMessage(), e);
    }
  }

  private static void writeShard(Path file, Map<String, INDArray> tensors, SafetensorsDtype dtype) {
    SafetensorsWriter.Builder b = SafetensorsWriter.builder();
    tensors.forEach((n, a) -> b.add(n, a, dtype));
    b.metadata("format", "pt").write(file);
  }

  /** The Hugging Face name of a core tensor; null if it has none (the bias of a score head). */
  static String hfName(String core, boolean scoreHead) {
    return switch (core) {
      case LlamaLayout.SCALAR_W -> scoreHead ? "score.weight" : "v_head.summary.weight";
      case LlamaLayout.SCALAR_B -> scoreHead ? null : "v_head.summary.bias";
      default -> core;
    };
  }

  private static boolean shapeMatches(long[] actual, long[] expected) {
    if (Arrays.equals(actual, expected)) {
      return true;
    }
    // heads stored as [1, d] (TRL, score) for the core's [d]
    return expected.length == 1 && actual.length == 2 && actual[0] == 1 && actual[1] == expected[0];
  }

  /** Tensor name to file, from the single file or the shard index. */
  static Map<String, Path> weightFiles(Path dir) {
    Map<String, Path> out = new LinkedHashMap<>();
    Path single = dir.resolve("model.safetensors");
    if (Files.isRegularFile(single)) {
      try (SafetensorsReader r = SafetensorsReader.open(single)) {
        for (String n : r.names()) {
          out.put(n, single);
        }
      }
      return out;
    }
    Path index = dir.resolve("model.safetensors.index.json");
    if (!Files.isRegularFile(index)) {
      throw new CheckpointException(dir + ": no model.safetensors or model.safetensors.index.json (only safetensors weights are read)");
    }
    Object map = readJson(index).get("weight_map");
    if (!(map instanceof Map<?, ?> wm)) {
      throw new CheckpointException(index + ": field \"weight_map\": expected an object, got " + map);
    }
    Map<Path, List<String>> listed = new LinkedHashMap<>();
    for (Map.Entry<?, ?> e : wm.entrySet()) {
      Path shard = dir.resolve(String.valueOf(e.getValue())).normalize();
      if (!shard.startsWith(dir.normalize()) || !Files.isRegularFile(shard)) {
        throw new CheckpointException(index + ": tensor " + e.getKey() + " is mapped to " + e.getValue() + ", which is not a file in " + dir);
      }
      out.put(String.valueOf(e.getKey()), shard);
      listed.computeIfAbsent(shard, s -> new ArrayList<>()).add(String.valueOf(e.getKey()));
    }
    for (Map.Entry<Path, List<String>> e : listed.entrySet()) {
      try (SafetensorsReader r = SafetensorsReader.open(e.getKey())) {
        for (String n : e.getValue()) {
          if (!r.contains(n)) {
            throw new CheckpointException(index + ": tensor " + n + " is mapped to " + e.getKey().getFileName() + ", which does not hold it");
          }
        }
      }
    }
    return out;
  }

  static Map<String, Object> readJson(Path file) {
    try {
      return JSON.readValue(file.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
    } catch (IOException e) {
      throw new CheckpointException(file + ": cannot read JSON: " + e.getMessage(), e);
    }
  }
}
