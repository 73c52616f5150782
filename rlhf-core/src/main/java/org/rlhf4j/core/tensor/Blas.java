package org.rlhf4j.core.tensor;

import org.nd4j.linalg.factory.Nd4j;

/** Matrix products over {@link Tensor}s, computed by the backend's BLAS into existing outputs. */
public final class Blas {
  private Blas() {}

  /** {@code c = alpha * op(a) op(b) + beta * c} for 2-D tensors. */
  public static void gemm(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB, double alpha, double beta) {
    Nd4j.gemm(a.array(), b.array(), c.array(), transA, transB, alpha, beta);
  }

  /** {@code c = op(a) op(b)}, overwriting {@code c}. */
  public static void gemm(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB) {
    gemm(a, b, c, transA, transB, 1.0, 0.0);
  }

  /** {@code c += op(a) op(b)}. */
  public static void gemmAccumulate(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB) {
    gemm(a, b, c, transA, transB, 1.0, 1.0);
  }

  /** Batched {@code c[i] = op(a[i]) op(b[i])} for 3-D tensors {@code [batch, rows, cols]}. */
  public static void batchedMatmul(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB) {
    Nd4j.matmul(a.array(), b.array(), c.array(), transA, transB, false);
  }
}
