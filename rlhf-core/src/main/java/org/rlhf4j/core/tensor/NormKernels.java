package org.rlhf4j.core.tensor;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * Layer normalisation and embedding kernels over row-major {@link Tensor}s ({@code n} rows of
 * {@code d} elements). Implemented once for float in {@code FloatNormKernels}; the double twin is
 * generated from the same source at build time.
 */
public interface NormKernels {

  /** The implementation for {@code type} (FLOAT or DOUBLE). */
  static NormKernels of(DataType type) {
    return type == DataType.DOUBLE ? DoubleNormKernels.INSTANCE : FloatNormKernels.INSTANCE;
  }

  /**
   * {@code out = xhat * gamma + beta} with {@code xhat = (x - mean) * rstd}, {@code rstd =
   * 1/sqrt(var + eps)} per row (biased variance, as in PyTorch). Saves {@code xhat} {@code [n, d]}
   * and {@code rstd} {@code [n]} for the backward pass.
   */
  void layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor out, Tensor xhat, Tensor rstd, int n, int d, double eps);

  /**
   * Backward of {@link #layerNorm}: {@code dx += dL/dx}, {@code dGamma += sum_rows dy * xhat},
   * {@code dBeta += sum_rows dy}.
   */
  void layerNormBackward(Tensor dy, Tensor xhat, Tensor rstd, Tensor gamma, Tensor dx, Tensor dGamma, Tensor dBeta, int n, int d);

  /** {@code out[r] = wte[ids[r]] + wpe[positions[r]]} for {@code r < n}. */
  void embed(int[] ids, int[] positions, Tensor wte, Tensor wpe, Tensor out, int n, int d);

  /** Backward of {@link #embed}: scatter-adds the rows of {@code dOut} into {@code dWte} and {@code dWpe}. */
  void embedBackward(int[] ids, int[] positions, Tensor dOut, Tensor dWte, Tensor dWpe, int n, int d);
}
