package org.rlhf4j.core.model.gpt2;

import com.google.common.collect.ImmutableList;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.tensor.Tensor;

/**
 * Typed access to the tensors of one {@link FlatTensors} (parameter values, or their gradients):
 * the embeddings, each block's tensors, the final LayerNorm and the optional scalar head.
 */
final class Weights {
  /** The tensors of one transformer block. */
  record Block(
      Tensor ln1W,
      Tensor ln1B,
      Tensor attnW,
      Tensor attnB,
      Tensor projW,
      Tensor projB,
      Tensor ln2W,
      Tensor ln2B,
      Tensor fcW,
      Tensor fcB,
      Tensor fc2W,
      Tensor fc2B) {}

  final Tensor wte;
  final Tensor wpe;
  final ImmutableList<Block> blocks;
  final Tensor lnfW;
  final Tensor lnfB;
  final Tensor headW;
  final Tensor headB;

  Weights(FlatTensors t, GptConfig c) {
    wte = t.get("wte");
    wpe = t.get("wpe");
    ImmutableList.Builder<Block> b = ImmutableList.builder();
    for (int l = 0; l < c.layers(); l++) {
      String p = "h." + l + ".";
      b.add(
          new Block(
              t.get(p + "ln_1.weight"),
              t.get(p + "ln_1.bias"),
              t.get(p + "attn.c_attn.weight"),
              t.get(p + "attn.c_attn.bias"),
              t.get(p + "attn.c_proj.weight"),
              t.get(p + "attn.c_proj.bias"),
              t.get(p + "ln_2.weight"),
              t.get(p + "ln_2.bias"),
              t.get(p + "mlp.c_fc.weight"),
              t.get(p + "mlp.c_fc.bias"),
              t.get(p + "mlp.c_proj.weight"),
              t.get(p + "mlp.c_proj.bias")));
    }
    blocks = b.build();
    lnfW = t.get("ln_f.weight");
    lnfB = t.get("ln_f.bias");
    headW = c.scalarHead() ? t.get("scalar_head.weight") : null;
    headB = c.scalarHead() ? t.get("scalar_head.bias") : null;
  }
}
