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
   * {@code pre += bias} (row broadcast), then {@code act = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
   * x^3)))}; the tanh is saved in {@code tanh} for the backward pass.
   */
  void biasGelu(Tensor pre, Tensor bias, Tensor tanh, Tensor act, int n, int cols);

  /** Backward of GELU: {@code dPre = dAct * gelu'(pre)} ({@code dPre} may be {@code dAct}). */
  void geluBackward(Tensor dAct, Tensor pre, Tensor tanh, Tensor dPre, int count);

  /**
   * {@link #biasGelu(Tensor, Tensor, Tensor, Tensor, int, int)} without saving the tanh (the backward
   * recomputes it from {@code pre}: one {@code [n, F]} buffer less per block, and less memory traffic).
   */
  void biasGelu(Tensor pre, Tensor bias, Tensor act, int n, int cols);

  /** Backward of GELU from the pre-activation alone (its tanh recomputed): {@code dPre} may be {@code dAct}. */
  void geluBackward(Tensor dAct, Tensor pre, Tensor dPre, int count);

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
