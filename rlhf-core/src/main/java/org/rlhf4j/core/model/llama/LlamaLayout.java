package org.rlhf4j.core.model.llama;

import java.util.ArrayList;
import java.util.List;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.ParameterSpec;
import org.rlhf4j.core.model.ParameterSpec.Init;

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

  /** The layout of {@code c}'s parameters (matrices initialised N(0, 0.02), as transformers' {@code initializer_range}). */
  public static ParameterLayout of(LlamaConfig c) {
    return ParameterLayout.of(table(c, 0.02));
  }

  /**
   * The parameter table of {@code c}: embeddings and matrices N(0, {@code std}), norm gains 1,
   * biases 0, the scalar head's weight N(0, 1/sqrt(d+1)).
   */
  public static List<ParameterSpec> table(LlamaConfig c, double std) {
    long d = c.hiddenSize();
    long f = c.intermediateSize();
    long qd = (long) c.heads() * c.headDim();
    long kvd = (long) c.kvHeads() * c.headDim();
    Init w = Init.normal(std);
    List<ParameterSpec> t = new ArrayList<>();
    t.add(ParameterSpec.decayed(EMBED, w, c.vocabSize(), d));
    for (int l = 0; l < c.layers(); l++) {
      String p = block(l);
      t.add(ParameterSpec.plain(p + "input_layernorm.weight", Init.ones(), d));
      t.add(ParameterSpec.decayed(p + "self_attn.q_proj.weight", w, qd, d));
      t.add(ParameterSpec.decayed(p + "self_attn.k_proj.weight", w, kvd, d));
      t.add(ParameterSpec.decayed(p + "self_attn.v_proj.weight", w, kvd, d));
      if (c.qkvBias()) {
        t.add(ParameterSpec.plain(p + "self_attn.q_proj.bias", Init.zeros(), qd));
        t.add(ParameterSpec.plain(p + "self_attn.k_proj.bias", Init.zeros(), kvd));
        t.add(ParameterSpec.plain(p + "self_attn.v_proj.bias", Init.zeros(), kvd));
      }
      t.add(ParameterSpec.decayed(p + "self_attn.o_proj.weight", w, d, qd));
      t.add(ParameterSpec.plain(p + "post_attention_layernorm.weight", Init.ones(), d));
      t.add(ParameterSpec.decayed(p + "mlp.gate_proj.weight", w, f, d));
      t.add(ParameterSpec.decayed(p + "mlp.up_proj.weight", w, f, d));
      t.add(ParameterSpec.decayed(p + "mlp.down_proj.weight", w, d, f));
    }
    t.add(ParameterSpec.plain(NORM, Init.ones(), d));
    if (!c.tiedEmbeddings()) {
      t.add(ParameterSpec.decayed(LM_HEAD, w, c.vocabSize(), d));
    }
    if (c.scalarHead()) {
      t.add(ParameterSpec.decayed(SCALAR_W, Init.normal(1.0 / Math.sqrt(d + 1.0)), d));
      t.add(ParameterSpec.plain(SCALAR_B, Init.zeros(), 1));
    }
    return t;
  }
}
