package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayList;
import java.util.List;

/**
 * The tensor shapes of a Llama-family model (Llama, Qwen2, Mistral, SmolLM2) as its {@code
 * config.json} gives them, for memory figures without the weights. {@link #PUBLISHED} holds the
 * models of the README's memory table, with the address of the config each was copied from.
 *
 * @param name the model's Hugging Face id
 * @param source where the numbers come from
 * @param hidden {@code hidden_size}
 * @param layers {@code num_hidden_layers}
 * @param heads {@code num_attention_heads}
 * @param kvHeads {@code num_key_value_heads}
 * @param headDim {@code head_dim} (hidden / heads when the config has none)
 * @param intermediate {@code intermediate_size}
 * @param vocab {@code vocab_size}
 * @param tiedEmbeddings {@code tie_word_embeddings}
 * @param qkvBias whether q/k/v have biases (Qwen2)
 */
public record LlamaShape(
    String name, String source, int hidden, int layers, int heads, int kvHeads, int headDim, int intermediate, int vocab,
    boolean tiedEmbeddings, boolean qkvBias) {

  /** Checks the fields. */
  public LlamaShape {
    checkArgument(hidden > 0 && layers > 0 && heads > 0 && kvHeads > 0 && headDim > 0 && intermediate > 0 && vocab > 0,
        "%s: every size must be positive", name);
    checkArgument(heads % kvHeads == 0, "%s: heads %s must be a multiple of kv heads %s", name, heads, kvHeads);
  }

  /** SmolLM2-135M, SmolLM2-360M, Qwen2.5-0.5B and Llama-3.2-1B, copied from their {@code config.json}. */
  public static final List<LlamaShape> PUBLISHED =
      List.of(
          new LlamaShape("HuggingFaceTB/SmolLM2-135M", "https://huggingface.co/HuggingFaceTB/SmolLM2-135M/blob/main/config.json",
              576, 30, 9, 3, 64, 1536, 49152, true, false),
          new LlamaShape("HuggingFaceTB/SmolLM2-360M", "https://huggingface.co/HuggingFaceTB/SmolLM2-360M/blob/main/config.json",
              960, 32, 15, 5, 64, 2560, 49152, true, false),
          new LlamaShape("Qwen/Qwen2.5-0.5B", "https://huggingface.co/Qwen/Qwen2.5-0.5B/blob/main/config.json",
              896, 24, 14, 2, 64, 4864, 151936, true, true),
          new LlamaShape("meta-llama/Llama-3.2-1B", "https://huggingface.co/meta-llama/Llama-3.2-1B/blob/main/config.json",
              2048, 16, 32, 8, 64, 8192, 128256, true, false));

  /**
   * The linear layers with their Hugging Face module names: per layer q, k, v, o, gate, up and down
   * projections, then {@code lm_head} (also when tied: it is a linear layer sharing the embedding).
   */
  public List<LinearModule> linearModules() {
    List<LinearModule> out = new ArrayList<>();
    int q = heads * headDim;
    int kv = kvHeads * headDim;
    for (int l = 0; l < layers; l++) {
      String p = "model.layers." + l + ".";
      out.add(new LinearModule(p + "self_attn.q_proj", hidden, q));
      out.add(new LinearModule(p + "self_attn.k_proj", hidden, kv));
      out.add(new LinearModule(p + "self_attn.v_proj", hidden, kv));
      out.add(new LinearModule(p + "self_attn.o_proj", q, hidden));
      out.add(new LinearModule(p + "mlp.gate_proj", hidden, intermediate));
      out.add(new LinearModule(p + "mlp.up_proj", hidden, intermediate));
      out.add(new LinearModule(p + "mlp.down_proj", intermediate, hidden));
    }
    out.add(new LinearModule("lm_head", hidden, vocab));
    return out;
  }

  /** The number of parameters (a tied output layer counted once), as {@code model.num_parameters()}. */
  public long parameterCount() {
    long embed = (long) vocab * hidden;
    long q = (long) heads * headDim;
    long kv = (long) kvHeads * headDim;
    long perLayer = hidden * q * 2 + hidden * kv * 2 + 3L * hidden * intermediate + 2L * hidden;
    if (qkvBias) {
      perLayer += q + 2 * kv;
    }
    return embed + layers * perLayer + hidden + (tiedEmbeddings ? 0 : embed);
  }
}
