package org.rlhf4j.core.tensor;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * Element-wise and row-broadcast kernels: GELU (tanh form, as in GPT-2), bias addition and bias
 * gradients, over row-major {@link Tensor}s. Implemented once for float; the double twin is
 * generated at build time.
 */
public interface PointwiseKernels {

  /** The implementation for {@code type} (FLOAT or DOUBLE). */
  static PointwiseKernels of(DataType type) {
    return type == DataType.DOUBLE ? DoublePointwiseKernels.INSTANCE : FloatPointwiseKernels.INSTANCE;
  }

  /**
   * {@code act = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))} with {@code x = pre + bias} (row
   * broadcast), row by row; {@code pre} is only read. For passes with no backward (decode steps).
   */
  void biasGelu(Tensor pre, Tensor bias, Tensor act, int n, int cols);

  /**
   * {@link #biasGelu}, and {@code pre} overwritten by GELU's slope there, {@code gelu'(pre + bias) =
   * 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)} (with {@code t} the tanh above):
   * the backward pass is then {@code dPre = dAct * slope} ({@link #multiply}), with no tanh to
   * recompute. Costs one {@code [n, F]} write more in the forward pass; saves the backward's tanh and
   * its division.
   */
  void biasGeluSavingSlope(Tensor pre, Tensor bias, Tensor act, int n, int cols);

  /** {@code out = a * b} element-wise over {@code n} elements ({@code out} may be {@code a} or {@code b}). */
  void multiply(Tensor a, Tensor b, Tensor out, int n);

  /** {@code dst[r] = src[r] + bias} for each of the {@code n} rows. */
  void copyAddBias(Tensor src, Tensor bias, Tensor dst, int n, int cols);

  /** {@code dBias += sum over rows of dy}. */
  void sumRows(Tensor dy, Tensor dBias, int n, int cols);

  /**
   * {@code dst += src}, then {@code src = 0}, over their {@code n} elements in one pass (a shard's
   * gradients summed into the model's and cleared for the next backward pass).
   */
  void addAndClear(Tensor dst, Tensor src, int n);

  /** {@code out[r] = h[r] . w + bias[0]}: a scalar head on each row. */
  void scalarHead(Tensor h, Tensor w, Tensor bias, Tensor out, int n, int d);

  /**
   * Backward of {@link #scalarHead}: {@code dh[r] += dOut[r] w}, {@code dw += sum dOut[r] h[r]},
   * {@code dBias += sum dOut}.
   */
  void scalarHeadBackward(Tensor dOut, Tensor h, Tensor w, Tensor dh, Tensor dw, Tensor dBias, int n, int d);
}
