package org.rlhf4j.core.model.gpt2;

import org.rlhf4j.core.tensor.Tensor;

/**
 * The activations of one transformer block over {@code n} rows, as {@link ShardMath#block} writes
 * them: in a forward pass, what the backward pass needs (one per layer, with the attention's {@code
 * qkv} and probabilities); in a decode step, scratch shared by the layers ({@code qkv, att}
 * unused). Shapes with {@code d = dModel}, {@code F = 4d}, {@code H} heads of width {@code dh}.
 */
final class BlockActs {
  Tensor ln1Hat; // [n, d]
  Tensor ln1Rstd; // [n]
  Tensor ln1Out; // [n, d]
  Tensor qkv; // [n, 3d] projections with bias: q, k, v of all heads, head h in columns h*dh.. of each third (full pass only)
  Tensor att; // [b*H, T, T] probabilities (full pass only)
  Tensor y; // [n, d] attention output, heads merged
  Tensor mid; // [n, d] residual after attention
  Tensor ln2Hat; // [n, d]
  Tensor ln2Rstd; // [n]
  Tensor ln2Out; // [n, d]
  Tensor fcPre; // [n, F] pre-activation without the bias (GELU's input is fcPre + bfc); after a full pass, GELU's slope there
  Tensor fcAct; // [n, F]
  Tensor out; // [n, d] residual after the MLP (the next block's input)
}
