package org.rlhf4j.core.hf;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.gpt2.GptConfig;

/**
 * Reads and writes Hugging Face GPT-2 {@code config.json} maps, refusing what the core model cannot
 * represent (another architecture, exact-erf GELU, an MLP width other than {@code 4 * n_embd},
 * per-layer attention scaling).
 */
final class HfGpt2Config {
  private static final List<String> TANH_GELUS = List.of("gelu_new", "gelu_pytorch_tanh", "gelu_fast");

  private HfGpt2Config() {}

  /** The core configuration of a GPT-2 {@code config.json} (a scalar head is added if {@code scalarHead}). */
  static GptConfig read(Map<String, Object> m, Path file, boolean scalarHead) {
    Object type = m.get("model_type");
    Object archs = m.get("architectures");
    boolean gpt2 = "gpt2".equals(type)
        || (type == null && archs instanceof List<?> l && l.stream().anyMatch(a -> String.valueOf(a).startsWith("GPT2")));
    if (!gpt2) {
      throw new CheckpointException(
          file + ": unsupported architecture (model_type " + type + ", architectures " + archs
              + "); rlhf4j reads GPT-2-architecture checkpoints (model_type \"gpt2\")");
    }
    Object act = m.getOrDefault("activation_function", "gelu_new");
    if (!TANH_GELUS.contains(String.valueOf(act))) {
      throw new CheckpointException(file + ": field \"activation_function\": " + act + " is not supported (the core model uses GELU's tanh form: " + TANH_GELUS + ")");
    }
    Object inner = m.get("n_inner");
    Object embd = m.get("n_embd");
    if (inner != null && !(embd instanceof Number e && inner instanceof Number i && i.intValue() == 4 * e.intValue())) {
      throw new CheckpointException(file + ": field \"n_inner\": " + inner + " is not supported (the core model's MLP is 4 * n_embd = " + (embd instanceof Number e ? 4 * e.intValue() : "?") + ")");
    }
    if (Boolean.TRUE.equals(m.get("scale_attn_by_inverse_layer_idx"))) {
      throw new CheckpointException(file + ": field \"scale_attn_by_inverse_layer_idx\": true is not supported");
    }
    if (Boolean.FALSE.equals(m.get("scale_attn_weights"))) {
      throw new CheckpointException(file + ": field \"scale_attn_weights\": false is not supported");
    }
    Map<String, Object> core = new LinkedHashMap<>(m);
    core.remove("scalar_head");
    core.put("scalar_head", scalarHead);
    try {
      return GptConfig.fromMap(core, file.toString());
    } catch (RuntimeException e) {
      throw new CheckpointException(e.getMessage(), e);
    }
  }

  /** A GPT-2 {@code config.json} map for {@code c} that {@code transformers} loads as {@code GPT2LMHeadModel}. */
  static Map<String, Object> write(GptConfig c, int bosId, int eosId) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("architectures", List.of("GPT2LMHeadModel"));
    m.put("model_type", "gpt2");
    m.put("vocab_size", c.vocabSize());
    m.put("n_embd", c.dModel());
    m.put("n_head", c.heads());
    m.put("n_layer", c.layers());
    m.put("n_positions", c.contextLength());
    m.put("n_ctx", c.contextLength());
    m.put("n_inner", null);
    m.put("activation_function", "gelu_new");
    m.put("layer_norm_epsilon", c.layerNormEps());
    m.put("resid_pdrop", 0.0);
    m.put("embd_pdrop", 0.0);
    m.put("attn_pdrop", 0.0);
    m.put("initializer_range", 0.02);
    m.put("scale_attn_weights", true);
    m.put("tie_word_embeddings", true);
    m.put("bos_token_id", bosId);
    m.put("eos_token_id", eosId);
    m.put("use_cache", true);
    m.put("torch_dtype", "float32");
    return m;
  }
}
