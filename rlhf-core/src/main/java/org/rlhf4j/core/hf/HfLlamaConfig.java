package org.rlhf4j.core.hf;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.llama.LlamaConfig;
import org.rlhf4j.core.model.llama.LlamaConfig.Family;

/**
 * Reads and writes the {@code config.json} of Hugging Face {@code LlamaForCausalLM}, {@code
 * Qwen2ForCausalLM} and {@code MistralForCausalLM} models, in transformers 5's form (rotary settings
 * in {@code rope_parameters}) and the older one ({@code rope_theta} and {@code rope_scaling} at the
 * top level). Options the model cannot compute are refused with the field and its value: another
 * {@code hidden_act} than {@code silu}, rope types other than {@code default} and {@code llama3}, a
 * partial rotary factor, a sliding window shorter than the context, Llama's {@code attention_bias}
 * (which also puts a bias on {@code o_proj}) or {@code mlp_bias}, quantised weights.
 */
public final class HfLlamaConfig {
  private HfLlamaConfig() {}

  /** The configuration of a {@code config.json} map read from {@code file}. */
  public static LlamaConfig read(Map<String, Object> m, Path file) {
    Family family = family(m, file);
    if (m.get("quantization_config") != null) {
      throw error(file, "quantization_config", m.get("quantization_config"), "quantised weights are not supported");
    }
    Object act = m.getOrDefault("hidden_act", "silu");
    if (!"silu".equals(act)) {
      throw error(file, "hidden_act", act, "only \"silu\" (SwiGLU) is supported");
    }
    int heads = intField(m, "num_attention_heads", file, null);
    int hidden = intField(m, "hidden_size", file, null);
    int ctx = intField(m, "max_position_embeddings", file, null);
    LlamaConfig.Builder b =
        LlamaConfig.builder()
            .family(family)
            .vocabSize(intField(m, "vocab_size", file, null))
            .hiddenSize(hidden)
            .intermediateSize(intField(m, "intermediate_size", file, null))
            .layers(intField(m, "num_hidden_layers", file, null))
            .heads(heads)
            .kvHeads(intField(m, "num_key_value_heads", file, heads))
            .headDim(intField(m, "head_dim", file, heads > 0 ? hidden / heads : 0))
            .contextLength(ctx)
            .rmsNormEps(doubleField(m, "rms_norm_eps", file, 1e-6))
            .tiedEmbeddings(boolField(m, "tie_word_embeddings", file, false))
            .qkvBias(family == Family.QWEN2);
    if (family != Family.QWEN2 && boolField(m, "attention_bias", file, false)) {
      throw error(file, "attention_bias", true, "biases on the attention projections (o_proj included) are not supported for " + family.architecture());
    }
    if (boolField(m, "mlp_bias", file, false)) {
      throw error(file, "mlp_bias", true, "biases on the MLP projections are not supported");
    }
    checkSlidingWindow(m, file, family, ctx);
    readRope(m, file, b);
    try {
      return b.build();
    } catch (IllegalArgumentException e) {
      throw new CheckpointException(file + ": " + e.getMessage(), e);
    }
  }

  private static Family family(Map<String, Object> m, Path file) {
    Object type = m.get("model_type");
    Object archs = m.get("architectures");
    for (Family f : Family.values()) {
      if (f.modelType().equals(type)) {
        if (archs instanceof List<?> l && !l.isEmpty() && !l.contains(f.architecture())) {
          throw error(file, "architectures", archs, "rlhf4j reads " + f.architecture() + " for model_type \"" + type + "\"");
        }
        return f;
      }
    }
    if (type == null && archs instanceof List<?> l) {
      for (Family f : Family.values()) {
        if (l.contains(f.architecture())) {
          return f;
        }
      }
    }
    throw new CheckpointException(
        file + ": unsupported architecture (model_type " + type + ", architectures " + archs
            + "); this reader takes LlamaForCausalLM, Qwen2ForCausalLM and MistralForCausalLM (model_type llama, qwen2, mistral)");
  }

  private static void checkSlidingWindow(Map<String, Object> m, Path file, Family family, int ctx) {
    Object window = m.get("sliding_window");
    boolean used = family == Family.QWEN2 ? boolField(m, "use_sliding_window", file, false) : window != null;
    if (used && window != null) {
      int w = intField(m, "sliding_window", file, null);
      if (w < ctx) {
        throw error(file, "sliding_window", w, "sliding-window attention shorter than the context (max_position_embeddings " + ctx + ") is not supported");
      }
    }
    Object types = m.get("layer_types");
    if (types instanceof List<?> l) {
      for (int i = 0; i < l.size(); i++) {
        Object t = l.get(i);
        if (!"full_attention".equals(t)) {
          boolean harmless = "sliding_attention".equals(t) && window instanceof Number n && n.longValue() >= ctx;
          if (!harmless) {
            throw error(file, "layer_types[" + i + "]", t, "only \"full_attention\" layers are supported");
          }
        }
      }
    } else if (types != null) {
      throw error(file, "layer_types", types, "expected a list");
    }
  }

  @SuppressWarnings("unchecked")
  private static void readRope(Map<String, Object> m, Path file, LlamaConfig.Builder b) {
    Object params = m.get("rope_parameters");
    Map<String, Object> rope;
    String where;
    double theta;
    if (params != null) {
      if (!(params instanceof Map<?, ?>)) {
        throw error(file, "rope_parameters", params, "expected an object");
      }
      rope = (Map<String, Object>) params;
      where = "rope_parameters.";
      theta = doubleField(rope, "rope_theta", file, where, m.get("rope_theta") instanceof Number n ? n.doubleValue() : 10000.0);
    } else {
      Object scaling = m.get("rope_scaling");
      if (scaling != null && !(scaling instanceof Map<?, ?>)) {
        throw error(file, "rope_scaling", scaling, "expected an object or null");
      }
      rope = scaling == null ? Map.of() : (Map<String, Object>) scaling;
      where = "rope_scaling.";
      theta = doubleField(m, "rope_theta", file, 10000.0);
    }
    b.ropeTheta(theta);
    Object typeField = rope.containsKey("rope_type") ? rope.get("rope_type") : rope.get("type");
    String typeName = rope.containsKey("rope_type") ? "rope_type" : "type";
    String type = typeField == null ? "default" : String.valueOf(typeField);
    Object partial = rope.containsKey("partial_rotary_factor") ? rope.get("partial_rotary_factor") : m.get("partial_rotary_factor");
    if (partial != null && !(partial instanceof Number n && n.doubleValue() == 1.0)) {
      throw error(file, rope.containsKey("partial_rotary_factor") ? where + "partial_rotary_factor" : "partial_rotary_factor", partial, "rotating only part of each head is not supported");
    }
    switch (type) {
      case "default" -> b.defaultRope();
      case "llama3" -> {
        try {
          b.llama3Scaling(
              new LlamaConfig.Llama3Scaling(
                  doubleField(rope, "factor", file, where, null),
                  doubleField(rope, "low_freq_factor", file, where, null),
                  doubleField(rope, "high_freq_factor", file, where, null),
                  intField(rope, "original_max_position_embeddings", file, where, null)));
        } catch (IllegalArgumentException e) {
          throw new CheckpointException(file + ": field \"" + where + "\": " + e.getMessage(), e);
        }
      }
      default -> throw error(file, where + typeName, type, "unsupported rope type (supported: default, llama3)");
    }
  }

  /** A {@code config.json} map (transformers 5's form) that {@code transformers} loads as the family's {@code ...ForCausalLM}. */
  public static Map<String, Object> write(LlamaConfig c, Integer bosId, Integer eosId) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("architectures", List.of(c.family().architecture()));
    m.put("model_type", c.family().modelType());
    if (c.family() == Family.LLAMA) {
      m.put("attention_bias", false);
      m.put("mlp_bias", false);
    }
    m.put("attention_dropout", 0.0);
    m.put("bos_token_id", bosId);
    m.put("eos_token_id", eosId);
    m.put("head_dim", c.headDim());
    m.put("hidden_act", "silu");
    m.put("hidden_size", c.hiddenSize());
    m.put("initializer_range", 0.02);
    m.put("intermediate_size", c.intermediateSize());
    m.put("max_position_embeddings", c.contextLength());
    m.put("num_attention_heads", c.heads());
    m.put("num_hidden_layers", c.layers());
    m.put("num_key_value_heads", c.kvHeads());
    m.put("rms_norm_eps", c.rmsNormEps());
    Map<String, Object> rope = new LinkedHashMap<>();
    if (c.hasLlama3Scaling()) {
      LlamaConfig.Llama3Scaling s = c.llama3Scaling();
      rope.put("factor", s.factor());
      rope.put("high_freq_factor", s.highFreqFactor());
      rope.put("low_freq_factor", s.lowFreqFactor());
      rope.put("original_max_position_embeddings", s.originalMaxPositions());
      rope.put("rope_theta", c.ropeTheta());
      rope.put("rope_type", "llama3");
    } else {
      rope.put("rope_theta", c.ropeTheta());
      rope.put("rope_type", "default");
    }
    m.put("rope_parameters", rope);
    if (c.family() != Family.LLAMA) {
      m.put("sliding_window", null);
      m.put("use_sliding_window", false);
    }
    m.put("tie_word_embeddings", c.tiedEmbeddings());
    m.put("dtype", "float32");
    m.put("use_cache", true);
    m.put("vocab_size", c.vocabSize());
    return m;
  }

  private static CheckpointException error(Path file, String field, Object value, String why) {
    return new CheckpointException(file + ": field \"" + field + "\": " + (value instanceof String ? "\"" + value + "\"" : value) + ": " + why);
  }

  private static int intField(Map<String, Object> m, String name, Path file, Integer dflt) {
    return intField(m, name, file, "", dflt);
  }

  private static int intField(Map<String, Object> m, String name, Path file, String where, Integer dflt) {
    Object v = m.get(name);
    if (v == null) {
      if (dflt == null) {
        throw new CheckpointException(file + ": field \"" + where + name + "\" is missing");
      }
      return dflt;
    }
    if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || Math.abs(n.doubleValue()) > Integer.MAX_VALUE) {
      throw error(file, where + name, v, "expected an integer");
    }
    if (n.intValue() < 0) {
      throw error(file, where + name, v, "must not be negative");
    }
    return n.intValue();
  }

  private static double doubleField(Map<String, Object> m, String name, Path file, Double dflt) {
    return doubleField(m, name, file, "", dflt);
  }

  private static double doubleField(Map<String, Object> m, String name, Path file, String where, Double dflt) {
    Object v = m.get(name);
    if (v == null) {
      if (dflt == null) {
        throw new CheckpointException(file + ": field \"" + where + name + "\" is missing");
      }
      return dflt;
    }
    if (!(v instanceof Number n) || !Double.isFinite(n.doubleValue())) {
      throw error(file, where + name, v, "expected a finite number");
    }
    return n.doubleValue();
  }

  private static boolean boolField(Map<String, Object> m, String name, Path file, boolean dflt) {
    Object v = m.get(name);
    if (v == null) {
      return dflt;
    }
    if (!(v instanceof Boolean bool)) {
      throw error(file, name, v, "expected true or false");
    }
    return bool;
  }
}
