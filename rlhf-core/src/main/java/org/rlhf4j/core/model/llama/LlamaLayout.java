package org.rlhf4j.core.model.llama;

import java.util.LinkedHashMap;
import java.util.Map;
import org.rlhf4j.core.model.ParameterLayout;

/**
 * The parameter names and shapes of a {@link LlamaConfig}: exactly Hugging Face's names ({@code
 * model.embed_tokens.weight}, {@code model.layers.N.self_attn.q_proj.weight} with {@code nn.Linear}'s
 * {@code [out, in]} layout, ..., {@code model.norm.weight}, {@code lm_head.weight} when the head is
 * untied) plus {@code scalar_head.weight [d]} and {@code scalar_head.bias [1]}. Embeddings and
 * matrices are weight-decayed (laid out first); norms and biases are not.
 */
public final class LlamaLayout {
  /** The token embedding. */
  public static final String EMBED = "model.embed_tokens.weight";
  /** The final RMSNorm's gain. */
  public static final String NORM = "model.norm.weight";
  /** The untied LM head. */
  public static final String LM_HEAD = "lm_head.weight";
  /** The scalar head's weight {@code [d]}. */
  public static final String SCALAR_W = "scalar_head.weight";
  /** The scalar head's bias {@code [1]}. */
  public static final String SCALAR_B = "scalar_head.bias";

  private LlamaLayout() {}

  /** The prefix of block {@code l}'s tensors, {@code model.layers.l.}. */
  public static String block(int l) {
    return "model.layers." + l + ".";
  }

  /** The layout of {@code c}'s parameters. */
  public static ParameterLayout of(LlamaConfig c) {
    long d = c.hiddenSize();
    long f = c.intermediateSize();
    long qd = (long) c.heads() * c.headDim();
    long kvd = (long) c.kvHeads() * c.headDim();
    Map<String, long[]> decayed = new LinkedHashMap<>();
    Map<String, long[]> plain = new LinkedHashMap<>();
    decayed.put(EMBED, new long[] {c.vocabSize(), d});
    for (int l = 0; l < c.layers(); l++) {
      String p = block(l);
      plain.put(p + "input_layernorm.weight", new long[] {d});
      decayed.put(p + "self_attn.q_proj.weight", new long[] {qd, d});
      decayed.put(p + "self_attn.k_proj.weight", new long[] {kvd, d});
      decayed.put(p + "self_attn.v_proj.weight", new long[] {kvd, d});
      if (c.qkvBias()) {
        plain.put(p + "self_attn.q_proj.bias", new long[] {qd});
        plain.put(p + "self_attn.k_proj.bias", new long[] {kvd});
        plain.put(p + "self_attn.v_proj.bias", new long[] {kvd});
      }
      decayed.put(p + "self_attn.o_proj.weight", new long[] {d, qd});
      plain.put(p + "post_attention_layernorm.weight", new long[] {d});
      decayed.put(p + "mlp.gate_proj.weight", new long[] {f, d});
      decayed.put(p + "mlp.up_proj.weight", new long[] {f, d});
      decayed.put(p + "mlp.down_proj.weight", new long[] {d, f});
    }
    plain.put(NORM, new long[] {d});
    if (!c.tiedEmbeddings()) {
      decayed.put(LM_HEAD, new long[] {c.vocabSize(), d});
    }
    if (c.scalarHead()) {
      decayed.put(SCALAR_W, new long[] {d});
      plain.put(SCALAR_B, new long[] {1});
    }
    return ParameterLayout.of(decayed, plain);
  }
}
