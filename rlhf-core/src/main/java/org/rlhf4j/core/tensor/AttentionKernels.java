package org.rlhf4j.core.tensor;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * Kernels of causal multi-head self-attention. Row-major layouts: {@code qkv [b*T, 3*H*dh]} (the
 * output of the fused projection), heads {@code [b*H, T, dh]}, attention probabilities {@code [b*H,
 * T, T]}, and a key mask {@code int[b*T]} (1 = real token, 0 = padding). Implemented once for float;
 * the double twin is generated at build time.
 */
public interface AttentionKernels {

  /** The implementation for {@code type} (FLOAT or DOUBLE). */
  static AttentionKernels of(DataType type) {
    return type == DataType.DOUBLE ? DoubleAttentionKernels.INSTANCE : FloatAttentionKernels.INSTANCE;
  }

  /** Adds {@code bias [3*H*dh]} to {@code qkv} and scatters it into the head layouts {@code q, k, v}. */
  void splitQkv(Tensor qkv, Tensor bias, Tensor q, Tensor k, Tensor v, int b, int t, int heads, int dh);

  /** {@code y[b*T, H*dh] = heads[b*H, T, dh]} re-laid out (heads merged). */
  void mergeHeads(Tensor heads, Tensor y, int b, int t, int nHeads, int dh);

  /** The inverse of {@link #mergeHeads}: {@code heads[b*H, T, dh] = y[b*T, H*dh]}. */
  void splitHeads(Tensor y, Tensor heads, int b, int t, int nHeads, int dh);

  /**
   * Gathers the head gradients into {@code dQkv [b*T, 3*H*dh]} (overwritten) and adds their column
   * sums to {@code dBias}.
   */
  void mergeQkvGrad(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, Tensor dBias, int b, int t, int heads, int dh);

  /**
   * In place: raw scores {@code s = q k^T} become causal attention probabilities {@code
   * softmax(scale * s)} over the keys {@code j <= i} whose mask is 1; other entries become 0. A query
   * with no visible key (a left-padding position) gets an all-zero row.
   */
  void causalSoftmax(Tensor scores, int[] keyMask, int b, int heads, int t, double scale);

  /**
   * {@link #causalSoftmax} for {@code heads} heads {@code [heads, t, t]} of one sequence whose key
   * mask is {@code keyMask[maskOffset .. maskOffset + t)} (e.g. one head at a time, right after its
   * scores were computed, while they are in cache).
   */
  void causalSoftmaxOf(Tensor scores, int[] keyMask, int maskOffset, int heads, int t, double scale);

  /**
   * In place: {@code dP} (gradient of the probabilities) becomes the gradient of the raw scores,
   * {@code scale * P * (dP - rowsum(dP * P))}.
   */
  void causalSoftmaxBackward(Tensor probs, Tensor dProbs, int b, int heads, int t, double scale);

  /**
   * For one new token per sequence: adds {@code bias} to {@code qkv [b, 3*H*dh]}, writes the query
   * heads to {@code q [b*H, dh]} and appends the key and value heads at index {@code position} of the
   * caches {@code [b*H, capacity, dh]}.
   */
  void appendKv(Tensor qkv, Tensor bias, Tensor q, Tensor kCache, Tensor vCache, int b, int heads, int dh, int capacity, int position);

  /**
   * Attention of one new query per sequence over a key/value cache: {@code q [b*H, dh]}, caches
   * {@code [b*H, capacity, dh]} holding {@code length} positions (the new one included), {@code
   * keyMask int[b*capacity]}; writes {@code out [b*H, dh]}.
   */
  void attendCached(Tensor q, Tensor kCache, Tensor vCache, int[] keyMask, Tensor out, int b, int heads, int capacity, int length, int dh, double scale);
}
