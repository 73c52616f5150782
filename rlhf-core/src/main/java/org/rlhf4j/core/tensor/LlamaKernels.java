package org.rlhf4j.core.tensor;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * Kernels of the Llama family (Llama, Qwen2, Mistral) that GPT-2 does not need: token embedding
 * without positions, RMSNorm, rotary position embedding, the SiLU-gated MLP activation, bias rows and
 * grouped-query attention of one new token over a key/value cache. Layouts are row-major: rows
 * {@code [n, d]}, heads {@code [b*H, T, dh]}, caches {@code [b*KV, capacity, dh]}. Implemented once
 * for float in {@code FloatLlamaKernels}; the double twin is generated from the same source at build
 * time.
 */
public interface LlamaKernels {

  /** The implementation for {@code type} (FLOAT or DOUBLE). */
  static LlamaKernels of(DataType type) {
    return type == DataType.DOUBLE ? DoubleLlamaKernels.INSTANCE : FloatLlamaKernels.INSTANCE;
  }

  /** {@code out[r] = table[ids[r]]} for {@code r < n}; {@code table [V, d]}, {@code out [n, d]}. */
  void embed(int[] ids, Tensor table, Tensor out, int n, int d);

  /** Backward of {@link #embed}: scatter-adds the rows of {@code dOut [n, d]} into {@code dTable}. */
  void embedBackward(int[] ids, Tensor dOut, Tensor dTable, int n, int d);

  /**
   * RMSNorm of each row, as in Hugging Face's {@code LlamaRMSNorm}: {@code out = gamma * x * rstd}
   * with {@code rstd = 1/sqrt(mean(x^2) + eps)}; saves {@code rstd [n]} for the backward pass.
   */
  void rmsNorm(Tensor x, Tensor gamma, Tensor out, Tensor rstd, int n, int d, double eps);

  /**
   * Backward of {@link #rmsNorm}: {@code dx += dL/dx} and {@code dGamma += sum_rows dy * x * rstd},
   * from the upstream {@code dy}, the input {@code x} and the saved {@code rstd}; {@code dGamma} may
   * be {@code null} (a frozen gain: only {@code dx} is computed).
   */
  void rmsNormBackward(Tensor dy, Tensor x, Tensor rstd, Tensor gamma, Tensor dx, Tensor dGamma, int n, int d);

  /**
   * In place: rotates the heads {@code [b*heads, t, dh]} by the rotary angles of their positions
   * ({@code positions[b*t]}), Hugging Face's {@code rotate_half} convention: for {@code i < dh/2},
   * {@code (x[i], x[i+dh/2])} turns by the angle whose cosine and sine are {@code cos[p, i]} and
   * {@code sin[p, i]} ({@code [P, dh/2]} tables). With {@code inverse} the rotation is undone, which
   * is also the backward pass (a rotation's transpose is its inverse).
   */
  void rope(Tensor heads, Tensor cos, Tensor sin, int[] positions, int b, int nHeads, int t, int dh, boolean inverse);

  /** In place: {@code x[r] += bias} for each of the {@code n} rows of {@code x [n, cols]}. */
  void addBias(Tensor x, Tensor bias, int n, int cols);

  /** {@code act = silu(gate) * up} element-wise over {@code count} elements, {@code silu(g) = g * sigmoid(g)}. */
  void siluGate(Tensor gate, Tensor up, Tensor act, int count);

  /**
   * Backward of {@link #siluGate}: {@code dUp = dAct * silu(gate)}, {@code dGate = dAct * up *
   * sigmoid(gate) * (1 + gate * (1 - sigmoid(gate)))} (both overwritten; may not alias the inputs).
   */
  void siluGateBackward(Tensor dAct, Tensor gate, Tensor up, Tensor dGate, Tensor dUp, int count);

  /**
   * Writes the key or value rows of one new token per sequence, {@code rows [b, kvHeads*dh]}, at
   * index {@code position} of {@code cache [b*kvHeads, capacity, dh]}.
   */
  void appendCache(Tensor rows, Tensor cache, int b, int kvHeads, int dh, int capacity, int position);

  /**
   * Grouped-query attention of one new query per sequence over a key/value cache: {@code q [b*H,
   * dh]}, caches {@code [b*KV, capacity, dh]} holding {@code length} positions (the new one
   * included), query head {@code h} reading key/value head {@code h / (H/KV)}, {@code keyMask
   * int[b*capacity]} (0 = padding); writes {@code out [b*H, dh]}.
   */
  void attendCachedGrouped(
      Tensor q, Tensor kCache, Tensor vCache, int[] keyMask, Tensor out, int b, int heads, int kvHeads, int capacity, int length, int dh, double scale);

  /**
   * Causal grouped-query self-attention for the key/value groups {@code [g0, g1)} of the {@code
   * b*kvHeads} groups (group {@code gi} is sequence {@code gi / kvHeads}, key/value head {@code gi %
   * kvHeads}, and the {@code rep = heads/kvHeads} query heads {@code (gi % kvHeads)*rep ...} that share
   * it), so that disjoint ranges can run on different threads. From the projections {@code q2 [b*T,
   * heads*dh]}, {@code k2}, {@code v2 [b*T, kvHeads*dh]}, per group: the heads are gathered and rotated
   * ({@link #rope}) into {@code q [b*heads, T, dh]}, {@code k}, {@code v [b*kvHeads, T, dh]} (kept for
   * the backward pass), the scores {@code Q K^T} are one product of the group's {@code [rep*T, dh]}
   * queries, their masked causal softmax (scaled by {@code scale}; keys {@code j > i} and padded keys,
   * {@code keyMask[b*T] == 0}, get probability 0, a row with no visible key is all 0) is written to
   * {@code att [b*heads, T, T]}, and {@code P V} goes through block {@code block} of the scratch {@code
   * yh [blocks*rep, T, dh]} (one block per range running at once, reused by each of its groups) into the
   * merged output {@code y [b*T, heads*dh]}.
   */
  void attentionForward(
      Tensor q2, Tensor k2, Tensor v2, Tensor cos, Tensor sin, int[] positions, int[] keyMask, Tensor q, Tensor k, Tensor v,
      Tensor att, Tensor yh, Tensor y, int b, int t, int heads, int kvHeads, int dh, double scale, int g0, int g1, int block);

  /**
   * Backward of {@link #attentionForward} for the groups {@code [g0, g1)}: from the merged output's
   * gradient {@code dY [b*T, heads*dh]} and the saved {@code q, k, v, att}, writes the gradients of the
   * projections (before rotation) {@code dq2 [b*T, heads*dh]}, {@code dk2}, {@code dv2 [b*T,
   * kvHeads*dh]} for the columns of these groups; {@code dyh}, {@code dq [blocks*rep, T, dh]}, {@code
   * dk}, {@code dv [blocks, T, dh]} and {@code dAtt [blocks*rep, T, T]} are scratch, of which this range
   * uses block {@code block} for each of its groups in turn (so that it stays in the core's cache).
   */
  void attentionBackward(
      Tensor dY, Tensor cos, Tensor sin, int[] positions, Tensor q, Tensor k, Tensor v, Tensor att, Tensor dyh, Tensor dAtt,
      Tensor dq, Tensor dk, Tensor dv, Tensor dq2, Tensor dk2, Tensor dv2, int b, int t, int heads, int kvHeads, int dh, double scale,
      int g0, int g1, int block);
}
