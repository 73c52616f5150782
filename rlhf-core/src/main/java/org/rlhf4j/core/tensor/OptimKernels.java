package org.rlhf4j.core.tensor;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * Kernels of the optimiser over flat parameter, gradient and moment buffers. Implemented once for
 * float; the double twin is generated at build time.
 */
public interface OptimKernels {

  /** The implementation for {@code type} (FLOAT or DOUBLE). */
  static OptimKernels of(DataType type) {
    return type == DataType.DOUBLE ? DoubleOptimKernels.INSTANCE : FloatOptimKernels.INSTANCE;
  }

  /** The sum of squares of the elements (NaN or infinite if any element is not finite). */
  double sumOfSquares(Tensor x);

  /**
   * One AdamW step (Loshchilov and Hutter) of gradients scaled first by {@code gradScale} (clipping;
   * unless it is 1, {@code g *= gradScale} in place, in the same pass over the buffers): for the first
   * {@code decayCount} elements, decoupled weight decay {@code p -= lr * weightDecay * p}; then for
   * all, {@code m = b1 m + (1-b1) g}, {@code v = b2 v + (1-b2) g^2}, {@code p -= lr * (m / bc1) /
   * (sqrt(v / bc2) + eps)} where {@code bc1, bc2} are the bias corrections {@code 1 - b^t}.
   */
  void adamW(Tensor p, Tensor g, Tensor m, Tensor v, int decayCount, double lr, double beta1, double beta2, double eps, double weightDecay, double bc1, double bc2,
      double gradScale);
}
