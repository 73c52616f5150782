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
   * from the upstream {@code dy}, the input {@code x} and the saved {@code rstd}.
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
}
