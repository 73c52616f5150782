package org.rlhf4j.core.hf;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.io.AtomicFiles;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.SafetensorsReader;
import org.rlhf4j.core.io.SafetensorsWriter;
import org.rlhf4j.core.io.TensorInfo;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;

/**
 * Hugging Face GPT-2 checkpoints (gpt2, distilgpt2, gpt2-medium/large/xl and GPT-2-architecture
 * fine-tunes) in and out of the core model, with no Python.
 *
 * <p><b>Import</b> reads {@code config.json} and {@code model.safetensors} (or the shards listed in
 * {@code model.safetensors.index.json}); tensor names may carry the {@code transformer.} prefix.
 * {@code wte.weight}, {@code wpe.weight}, {@code h.N.ln_1|ln_2.weight|bias}, {@code
 * h.N.attn.c_attn|c_proj.weight|bias} and {@code h.N.mlp.c_fc|c_proj.weight|bias} (Conv1D layout
 * {@code [in, out]}, which is the core model's) and {@code ln_f.weight|bias} are required; {@code
 * lm_head.weight} must equal {@code wte.weight} (the head is tied); the attention-mask buffers {@code
 * h.N.attn.bias} and {@code h.N.attn.masked_bias} are skipped; a value head ({@code
 * v_head.summary.weight|bias}, TRL's layout) or a one-label score head ({@code score.weight}) becomes
 * the scalar head. F32, F16 and BF16 tensors are converted on load. Anything else — a missing or
 * unknown tensor, a shape that contradicts {@code config.json}, another architecture — is an error
 * listing the names.
 *
 * <p><b>Export</b> writes {@code config.json}, {@code model.safetensors} (metadata {@code format:
 * pt}; names {@code transformer.wte.weight}, {@code transformer.h.N...}, {@code transformer.ln_f...}
 * in F32, no {@code lm_head.weight} since it is tied; a scalar head as {@code v_head.summary.weight}
 * {@code [1, d]} and {@code v_head.summary.bias} {@code [1]}) and, for a GPT-2 tokenizer, {@code
 * vocab.json} and {@code merges.txt}: {@code GPT2LMHeadModel.from_pretrained(dir)} loads it.
 */
public final class HfGpt2 {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final Pattern MASK_BUFFER = Pattern.compile("h\\.\\d+\\.attn\\.(bias|masked_bias)");

  /** A loaded Hugging Face model. */
  public record Loaded(GptModel model, Optional<Tokenizer> tokenizer, Map<String, Object> config) {}

  private HfGpt2() {}

  /** Whether {@code dir} holds a Hugging Face model ({@code config.json} and safetensors weights). */
  public static boolean isHfDirectory(Path dir) {
    return Files.isRegularFile(dir.resolve("config.json"))
        && (Files.isRegularFile(dir.resolve("model.safetensors")) || Files.isRegularFile(dir.resolve("model.safetensors.index.json")));
  }

  /** Loads the GPT-2 model in {@code dir}, and its tokenizer if the directory has one. */
  public static Loaded load(Path dir, ModelOptions options) {
    Path configFile = dir.resolve("config.json");
    Map<String, Object> cfg = readJson(configFile);
    Map<String, Path> files = weightFiles(dir);
    Map<String, String> names = new TreeMap<>(); // stripped name -> original name
    Map<String, Path> where = new LinkedHashMap<>();
    for (Map.Entry<String, Path> e : files.entrySet()) {
      String stripped = e.getKey().startsWith("transformer.") ? e.getKey().substring("transformer.".length()) : e.getKey();
      names.put(stripped, e.getKey());
      where.put(stripped, e.getValue());
    }
    boolean valueHead = names.containsKey("v_head.summary.weight");
    boolean scoreHead = names.containsKey("score.weight");
    GptConfig config = HfGpt2Config.read(cfg, configFile, valueHead || scoreHead);
    ModelCheckpoint.checkSizes(config, configFile.toString(), names.size());
    ParameterLayout layout = config.layout();
    TreeSet<String> missing = new TreeSet<>();
    for (ParameterLayout.Entry e : layout.entries()) {
      String hf = hfName(e.name(), scoreHead);
      if (hf != null && !names.containsKey(hf)) {
        missing.add(hf);
      }
    }
    List<String> unknown = new ArrayList<>();
    for (String n : names.keySet()) {
      if (!MASK_BUFFER.matcher(n).matches() && !n.equals("lm_head.weight") && coreName(n, layout) == null) {
        unknown.add(names.get(n));
      }
    }
    if (!missing.isEmpty() || !unknown.isEmpty()) {
      throw new CheckpointException(dir + ": the GPT-2 weights do not match config.json; missing " + missing + ", unexpected " + unknown);
    }
    Map<Path, SafetensorsReader> readers = new LinkedHashMap<>();
    try {
      // Every shape is checked against config.json (and, by the header parser, every tensor
      // against its file's size) before the model is allocated: a small folder whose config
      // claims a huge model is refused here, not by the allocator.
      for (ParameterLayout.Entry e : layout.entries()) {
        String hf = hfName(e.name(), scoreHead);
        if (hf == null) {
          continue;
        }
        SafetensorsReader r = readers.computeIfAbsent(where.get(hf), SafetensorsReader::open);
        TensorInfo info = r.info(names.get(hf));
        if (info.elementCount() != e.size() || !shapeMatches(info.shapeArray(), e.shape())) {
          throw new CheckpointException(
              where.get(hf) + ": tensor " + names.get(hf) + " has shape " + info.shape() + ", but config.json implies "
                  + java.util.Arrays.toString(e.shape()));
        }
      }
      if (names.containsKey("lm_head.weight")) {
        SafetensorsReader r = readers.computeIfAbsent(where.get("lm_head.weight"), SafetensorsReader::open);
        TensorInfo info = r.info(names.get("lm_head.weight"));
        long[] wteShape = layout.entries().stream().filter(x -> x.name().equals("wte")).findFirst().orElseThrow().shape();
        if (!java.util.Arrays.equals(info.shapeArray(), wteShape)) {
          throw new CheckpointException(
              where.get("lm_head.weight") + ": tensor " + names.get("lm_head.weight") + " has shape " + info.shape()
                  + ", but config.json implies " + java.util.Arrays.toString(wteShape));
        }
      }
      GptModel model = GptModel.uninitialized(config, options);
      try {
        for (ParameterLayout.Entry e : layout.entries()) {
          String hf = hfName(e.name(), scoreHead);
          INDArray target = model.parameters().get(e.name()).array();
          if (hf == null) {
            target.assign(0); // score.weight has no bias
            continue;
          }
          SafetensorsReader r = readers.get(where.get(hf));
          TensorInfo info = r.info(names.get(hf));
          r.readInto(names.get(hf), info.shapeArray().length == e.shape().length ? target : target.reshape(info.shapeArray()));
          ModelCheckpoint.checkFinite(target, names.get(hf), where.get(hf).toString());
        }
        if (names.containsKey("lm_head.weight")) {
          SafetensorsReader r = readers.get(where.get("lm_head.weight"));
          INDArray head = r.read(names.get("lm_head.weight"), model.dataType());
          INDArray wte = model.parameters().get("wte").array();
          if (!java.util.Arrays.equals(head.shape(), wte.shape()) || head.sub(wte).amaxNumber().doubleValue() > 1e-6 * Math.max(1, wte.amaxNumber().doubleValue())) {
            throw new CheckpointException(where.get("lm_head.weight") + ": lm_head.weight differs from wte.weight; rlhf4j's LM head is tied to the token embedding");
          }
        }
      } catch (RuntimeException e) {
        model.close();
        throw e;
      }
      Optional<Tokenizer> tok = Optional.empty();
      if (Files.exists(dir.resolve("vocab.json")) || Files.exists(dir.resolve("tokenizer.json")) || Files.exists(dir.resolve("encoder.json"))) {
        try {
          tok = Optional.of(Tokenizers.load(dir));
        } catch (RuntimeException e) {
          model.close();
          throw e;
        }
      }
      return new Loaded(model, tok, cfg);
    } finally {
      for (SafetensorsReader r : readers.values()) {
        r.close();
      }
    }
  }

  /** Writes {@code model} (and a GPT-2 tokenizer, if given) to {@code dir} in Hugging Face's layout, atomically. */
  public static void export(GptModel model, Tokenizer tokenizer, Path dir) {
    GptConfig c = model.config();
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    for (ParameterLayout.Entry e : model.parameters().layout().entries()) {
      INDArray v = model.parameters().get(e.name()).array().castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT);
      switch (e.name()) {
        case "wte", "wpe" -> tensors.put("transformer." + e.name() + ".weight", v);
        case "scalar_head.weight" -> tensors.put("v_head.summary.weight", v.reshape(1, c.dModel()));
        case "scalar_head.bias" -> tensors.put("v_head.summary.bias", v);
        default -> tensors.put("transformer." + e.name(), v);
      }
    }
    int bos = tokenizer == null ? 0 : tokenizer.bosId();
    int eos = tokenizer == null ? 0 : tokenizer.eosId();
    try {
      AtomicFiles.publishDirectory(
          dir,
          tmp -> {
            SafetensorsWriter.write(tmp.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
            Files.writeString(tmp.resolve("config.json"), JSON.writeValueAsString(HfGpt2Config.write(c, bos, eos)));
            if (tokenizer != null && !(tokenizer instanceof ByteTokenizer)) {
              Tokenizers.save(tokenizer, tmp);
            }
          });
    } catch (IOException e) {
      throw new CheckpointException("cannot export " + dir + ": " + e.getMessage(), e);
    }
  }

  /** The Hugging Face name (without {@code transformer.}) of a core tensor; null if it has none. */
  static String hfName(String core, boolean scoreHead) {
    return switch (core) {
      case "wte", "wpe" -> core + ".weight";
      case "scalar_head.weight" -> scoreHead ? "score.weight" : "v_head.summary.weight";
      case "scalar_head.bias" -> scoreHead ? null : "v_head.summary.bias";
      default -> core;
    };
  }

  private static String coreName(String hf, ParameterLayout layout) {
    String core = switch (hf) {
      case "wte.weight" -> "wte";
      case "wpe.weight" -> "wpe";
      case "v_head.summary.weight", "score.weight" -> "scalar_head.weight";
      case "v_head.summary.bias" -> "scalar_head.bias";
      default -> hf;
    };
    return layout.contains(core) ? core : null;
  }

  private static boolean shapeMatches(long[] actual, long[] expected) {
    if (java.util.Arrays.equals(actual, expected)) {
      return true;
    }
    // heads stored as [1, d] (TRL, score) for the core's [d]
    return expected.length == 1 && actual.length == 2 && actual[0] == 1 && actual[1] == expected[0];
  }

  /** Tensor name to file, from the single file or the shard index. */
  private static Map<String, Path> weightFiles(Path dir) {
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
    for (Map.Entry<?, ?> e : wm.entrySet()) {
      Path shard = dir.resolve(String.valueOf(e.getValue())).normalize();
      if (!shard.startsWith(dir.normalize()) || !Files.isRegularFile(shard)) {
        throw new CheckpointException(index + ": tensor " + e.getKey() + " is mapped to " + e.getValue() + ", which is not a file in " + dir);
      }
      out.put(String.valueOf(e.getKey()), shard);
    }
    return out;
  }

  private static Map<String, Object> readJson(Path file) {
    try {
      return JSON.readValue(file.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
    } catch (IOException e) {
      throw new CheckpointException(file + ": cannot read JSON: " + e.getMessage(), e);
    }
  }
}
