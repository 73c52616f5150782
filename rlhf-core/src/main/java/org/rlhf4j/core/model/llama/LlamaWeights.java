package org.rlhf4j.core.model.llama;

import com.google.common.collect.ImmutableList;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.tensor.Tensor;

/**
 * Typed access to the tensors of one {@link FlatTensors} laid out by {@link LlamaLayout} (parameter
 * values, or their gradients). Absent tensors (biases of a model without them, the scalar head) are
 * {@code null}; {@link #lmHead} is the embedding when the head is tied.
 */
final class LlamaWeights {
  /** One block's tensors ({@code [out, in]} matrices). */
  record Block(
      Tensor inputNorm,
      Tensor wq,
      Tensor wk,
      Tensor wv,
      Tensor bq,
      Tensor bk,
      Tensor bv,
      Tensor wo,
      Tensor postNorm,
      Tensor wGate,
      Tensor wUp,
      Tensor wDown) {}

  final Tensor embed; // [V, d]
  final ImmutableList<Block> blocks;
  final Tensor norm; // [d]
  final Tensor lmHead; // [V, d], == embed when tied
  final Tensor headW; // [d] or null
  final Tensor headB; // [1] or null

  LlamaWeights(FlatTensors t, LlamaConfig c) {
    embed = t.get(LlamaLayout.EMBED);
    ImmutableList.Builder<Block> b = ImmutableList.builder();
    for (int l = 0; l < c.layers(); l++) {
      String p = LlamaLayout.block(l);
      b.add(
          new Block(
              t.get(p + "input_layernorm.weight"),
              t.get(p + "self_attn.q_proj.weight"),
              t.get(p + "self_attn.k_proj.weight"),
              t.get(p + "self_attn.v_proj.weight"),
              c.qkvBias() ? t.get(p + "self_attn.q_proj.bias") : null,
              c.qkvBias() ? t.get(p + "self_attn.k_proj.bias") : null,
              c.qkvBias() ? t.get(p + "self_attn.v_proj.bias") : null,
              t.get(p + "self_attn.o_proj.weight"),
              t.get(p + "post_attention_layernorm.weight"),
              t.get(p + "mlp.gate_proj.weight"),
              t.get(p + "mlp.up_proj.weight"),
              t.get(p + "mlp.down_proj.weight")));
    }
    blocks = b.build();
    norm = t.get(LlamaLayout.NORM);
    lmHead = c.tiedEmbeddings() ? embed : t.get(LlamaLayout.LM_HEAD);
    headW = c.scalarHead() ? t.get(LlamaLayout.SCALAR_W) : null;
    headB = c.scalarHead() ? t.get(LlamaLayout.SCALAR_B) : null;
  }
}
