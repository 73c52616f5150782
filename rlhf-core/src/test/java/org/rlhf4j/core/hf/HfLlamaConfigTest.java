package org.rlhf4j.core.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.llama.LlamaConfig;

/**
 * {@code config.json} of the Llama family: transformers 5's {@code rope_parameters} and the older
 * top-level {@code rope_theta}/{@code rope_scaling} give the same model; write → read is the
 * identity; every unsupported option is refused with a message naming the field and its value.
 */
class HfLlamaConfigTest {
  private static final Path FILE = Path.of("config.json");

  private static Map<String, Object> llama3New() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("architectures", List.of("LlamaForCausalLM"));
    m.put("model_type", "llama");
    m.put("vocab_size", 1024);
    m.put("hidden_size", 64);
    m.put("intermediate_size", 160);
    m.put("num_hidden_layers", 2);
    m.put("num_attention_heads", 4);
    m.put("num_key_value_heads", 2);
    m.put("max_position_embeddings", 128);
    m.put("rms_norm_eps", 1e-5);
    m.put("hidden_act", "silu");
    m.put("tie_word_embeddings", true);
    m.put("attention_bias", false);
    m.put("mlp_bias", false);
    Map<String, Object> rope = new LinkedHashMap<>();
    rope.put("factor", 8.0);
    rope.put("high_freq_factor", 4.0);
    rope.put("low_freq_factor", 1.0);
    rope.put("original_max_position_embeddings", 16);
    rope.put("rope_theta", 500000.0);
    rope.put("rope_type", "llama3");
    m.put("rope_parameters", rope);
    return m;
  }

  private static Map<String, Object> with(Map<String, Object> base, Object... kv) {
    Map<String, Object> m = new HashMap<>(base);
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], kv[i + 1]);
    }
    return m;
  }

  @SuppressWarnings("unchecked")
  @Test
  void oldFormReadsLikeTransformers5Form() {
    LlamaConfig fromNew = HfLlamaConfig.read(llama3New(), FILE);
    assertTrue(fromNew.hasLlama3Scaling());
    assertEquals(500000.0, fromNew.ropeTheta());
    assertEquals(16, fromNew.headDim());
    assertEquals(2, fromNew.kvHeads());
    Map<String, Object> old = new HashMap<>(llama3New());
    Map<String, Object> scaling = new LinkedHashMap<>((Map<String, Object>) old.remove("rope_parameters"));
    scaling.remove("rope_theta");
    old.put("rope_theta", 500000.0);
    old.put("rope_scaling", scaling);
    assertEquals(fromNew, HfLlamaConfig.read(old, FILE));
    // transformers 4.3x wrote "type" rather than "rope_type"
    Map<String, Object> typed = new LinkedHashMap<>(scaling);
    typed.put("type", typed.remove("rope_type"));
    assertEquals(fromNew, HfLlamaConfig.read(with(old, "rope_scaling", typed), FILE));
    // no scaling at all: default rope with the top-level theta
    LlamaConfig plain = HfLlamaConfig.read(with(old, "rope_scaling", null, "rope_theta", 1e4), FILE);
    assertFalse(plain.hasLlama3Scaling());
    assertEquals(1e4, plain.ropeTheta());
  }

  @Test
  void writeThenReadIsTheIdentity() {
    for (LlamaConfig.Family f : LlamaConfig.Family.values()) {
      LlamaConfig.Builder b = LlamaConfig.builder().family(f).vocabSize(100).hiddenSize(32).intermediateSize(40).layers(3).heads(4).kvHeads(1).contextLength(64).rmsNormEps(1e-6).ropeTheta(1e6);
      if (f == LlamaConfig.Family.QWEN2) {
        b.qkvBias(true).tiedEmbeddings(true);
      }
      if (f == LlamaConfig.Family.LLAMA) {
        b.llama3Scaling(new LlamaConfig.Llama3Scaling(32, 1, 4, 8192)).headDim(12);
      }
      LlamaConfig c = b.build();
      assertEquals(c, HfLlamaConfig.read(HfLlamaConfig.write(c, 1, 2), FILE), f.toString());
    }
  }

  @Test
  void qwen2AlwaysHasQkvBiasAndMistralAcceptsAWindowAsLongAsTheContext() {
    Map<String, Object> q = with(llama3New(), "model_type", "qwen2", "architectures", List.of("Qwen2ForCausalLM"), "use_sliding_window", false, "sliding_window", 4);
    q.remove("attention_bias");
    assertTrue(HfLlamaConfig.read(q, FILE).qkvBias());
    Map<String, Object> m = with(llama3New(), "model_type", "mistral", "architectures", List.of("MistralForCausalLM"), "sliding_window", 128);
    m.remove("attention_bias");
    m.remove("mlp_bias");
    assertEquals(LlamaConfig.Family.MISTRAL, HfLlamaConfig.read(m, FILE).family());
    assertFalse(HfLlamaConfig.read(m, FILE).qkvBias());
  }

  private static void refused(Map<String, Object> m, String... fragments) {
    CheckpointException e = assertThrows(CheckpointException.class, () -> HfLlamaConfig.read(m, FILE));
    for (String f : fragments) {
      assertTrue(e.getMessage().contains(f), "message lacks \"" + f + "\": " + e.getMessage());
    }
    assertTrue(e.getMessage().startsWith(FILE.toString()), e.getMessage());
  }

  @SuppressWarnings("unchecked")
  @Test
  void refusesWhatTheModelCannotCompute() {
    refused(with(llama3New(), "hidden_act", "gelu"), "\"hidden_act\"", "\"gelu\"");
    Map<String, Object> yarn = new LinkedHashMap<>((Map<String, Object>) llama3New().get("rope_parameters"));
    yarn.put("rope_type", "yarn");
    refused(with(llama3New(), "rope_parameters", yarn), "\"rope_parameters.rope_type\"", "\"yarn\"");
    Map<String, Object> oldLinear = with(llama3New(), "rope_theta", 1e4, "rope_scaling", Map.of("type", "linear", "factor", 2.0));
    oldLinear.remove("rope_parameters");
    refused(oldLinear, "\"rope_scaling.type\"", "\"linear\"");
    Map<String, Object> partial = new LinkedHashMap<>((Map<String, Object>) llama3New().get("rope_parameters"));
    partial.put("partial_rotary_factor", 0.5);
    refused(with(llama3New(), "rope_parameters", partial), "partial_rotary_factor", "0.5");
    Map<String, Object> mistral = with(llama3New(), "model_type", "mistral", "architectures", List.of("MistralForCausalLM"), "sliding_window", 64);
    mistral.remove("attention_bias");
    refused(mistral, "\"sliding_window\"", "64", "max_position_embeddings 128");
    refused(
        with(llama3New(), "model_type", "qwen2", "architectures", List.of("Qwen2ForCausalLM"), "use_sliding_window", true, "sliding_window", 32),
        "\"sliding_window\"", "32");
    refused(with(llama3New(), "layer_types", List.of("full_attention", "sliding_attention")), "\"layer_types[1]\"", "sliding_attention");
    refused(with(llama3New(), "attention_bias", true), "\"attention_bias\"", "true");
    refused(with(llama3New(), "mlp_bias", true), "\"mlp_bias\"", "true");
    refused(with(llama3New(), "model_type", "gpt2", "architectures", List.of("GPT2LMHeadModel")), "unsupported architecture", "gpt2");
    refused(with(llama3New(), "architectures", List.of("Qwen2ForCausalLM")), "\"architectures\"", "Qwen2ForCausalLM");
    refused(with(llama3New(), "num_key_value_heads", 3), "multiple of kvHeads");
    refused(with(llama3New(), "hidden_size", "64"), "\"hidden_size\"", "expected an integer");
    refused(with(llama3New(), "quantization_config", Map.of("quant_method", "gptq")), "quantization_config");
    Map<String, Object> missing = new HashMap<>(llama3New());
    missing.remove("intermediate_size");
    refused(missing, "\"intermediate_size\" is missing");
    Map<String, Object> noFactor = new LinkedHashMap<>((Map<String, Object>) llama3New().get("rope_parameters"));
    noFactor.remove("factor");
    refused(with(llama3New(), "rope_parameters", noFactor), "\"rope_parameters.factor\" is missing");
  }
}
