package org.rlhf4j.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * MKL's JIT kernels for small products, through {@link Blas#gemmAt} (which uses them when MKL is the
 * BLAS). That their results do not depend on the operands' alignment is checked with the other
 * products' in {@link BlasLibraryTest}. Runs in a JVM of its own with {@code -Drlhf4j.blas=mkl} (see
 * {@link MklBackendTest}).
 */
class MklJitTest {

  private static void requireMkl() {
    Blas.validation(); // chooses the route and starts the kernels
    Assumptions.assumeTrue(CpuBackend.mklLoaded(), "MKL could not be loaded here (so no JIT kernels): " + Blas.validation());
    assertTrue(MklJit.on(), "MKL is loaded, so its JIT kernels should be on: " + Blas.validation());
    String declined = "MKL's JIT kernels " + MklJit.DECLINED;
    assertTrue(Blas.validation().contains("small products: MKL's JIT kernels") || Blas.validation().contains(declined), Blas.validation());
    if ("GenuineIntel".equals(CpuBackend.cpuVendor())) {
      assertFalse(Blas.validation().contains(declined), "MKL makes kernels on Intel CPUs: " + Blas.validation());
    }
  }

  /** Every transposition, strided operands (an attention head inside [T, 3d]), alpha and beta, against a double reference. */
  @Test
  void productsMatchTheReference() {
    requireMkl();
    Random r = new Random(3);
    int[][] shapes = {{64, 128, 32}, {64, 32, 128}, {8, 384, 128}, {5, 7, 3}, {37, 53, 71}, {128, 512, 32}};
    for (int[] s : shapes) {
      for (int t = 0; t < 4; t++) {
        boolean ta = (t & 1) != 0;
        boolean tb = (t & 2) != 0;
        int m = s[0];
        int n = s[1];
        int k = s[2];
        int lda = (ta ? m : k) + 11;
        int ldb = (tb ? k : n) + 5;
        int ldc = n + 3;
        Tensor a = filled(r, (long) (ta ? k : m) * lda);
        Tensor b = filled(r, (long) (tb ? n : k) * ldb);
        Tensor c = filled(r, (long) m * ldc);
        double[] c0 = values(c);
        Blas.gemmAt(ta, tb, m, n, k, 0.75, a, 0, lda, b, 0, ldb, 0.5, c, 0, ldc);
        double[] av = values(a);
        double[] bv = values(b);
        double[] got = values(c);
        for (int i = 0; i < m; i++) {
          for (int j = 0; j < n; j++) {
            double sum = 0;
            double mag = Math.abs(0.5 * c0[i * ldc + j]);
            for (int p = 0; p < k; p++) {
              double x = ta ? av[p * lda + i] : av[i * lda + p];
              double y = tb ? bv[j * ldb + p] : bv[p * ldb + j];
              sum += x * y;
              mag += Math.abs(0.75 * x * y);
            }
            double want = 0.75 * sum + 0.5 * c0[i * ldc + j];
            assertEquals(want, got[i * ldc + j], 1e-5 * mag + 1e-30, m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb + " (" + i + "," + j + ")");
          }
          for (int j = n; j < ldc; j++) { // the padding between rows is not written
            assertEquals(c0[i * ldc + j], got[i * ldc + j], 0.0, "padding column " + j + " of row " + i);
          }
        }
      }
    }
  }

  /** With beta 0 the old contents of C are not read: NaN there does not reach the result. */
  @Test
  void betaZeroIgnoresNaN() {
    requireMkl();
    Random r = new Random(4);
    Tensor a = filled(r, 64 * 32);
    Tensor b = filled(r, 32 * 128);
    Tensor c = Tensor.of(Nd4j.valueArrayOf(new long[] {64 * 128}, Float.NaN, DataType.FLOAT));
    Blas.gemmAt(false, false, 64, 128, 32, 1.0, a, 0, 32, b, 0, 128, 0.0, c, 0, 128);
    for (double v : values(c)) {
      assertTrue(Double.isFinite(v), "NaN from C's old contents leaked into a beta-0 product");
    }
  }

  /**
   * MKL is asked once per problem: the same shape again asks nothing, another shape asks once (on an
   * Intel CPU MKL makes a kernel for it; on an AMD one it declines, and the product goes to {@code
   * cblas_sgemm}); large products ask nothing.
   */
  @Test
  void kernelsAreMadeOncePerShape() {
    requireMkl();
    Random r = new Random(6);
    Tensor a = filled(r, 48 * 40);
    Tensor b = filled(r, 40 * 24);
    Tensor c = filled(r, 48 * 24);
    Blas.gemmAt(false, false, 48, 24, 40, 1.0, a, 0, 40, b, 0, 24, 0.0, c, 0, 24);
    int asked = MklJit.problemCount();
    int made = MklJit.kernelCount();
    Blas.gemmAt(false, false, 48, 24, 40, 1.0, a, 0, 40, b, 0, 24, 0.0, c, 0, 24);
    assertEquals(asked, MklJit.problemCount(), "same problem: MKL is not asked again");
    assertEquals(made, MklJit.kernelCount(), "same problem, same kernel");
    Blas.gemmAt(false, false, 48, 23, 40, 1.0, a, 0, 40, b, 0, 24, 0.0, c, 0, 24);
    assertEquals(asked + 1, MklJit.problemCount(), "a new problem (n 23) is asked once");
    if ("GenuineIntel".equals(CpuBackend.cpuVendor())) {
      assertEquals(made + 1, MklJit.kernelCount(), "on an Intel CPU, a new problem (n 23) gets its own kernel");
    }
    int big = 256;
    Tensor x = filled(r, big * big);
    Tensor y = Tensor.of(Nd4j.create(DataType.FLOAT, big * big));
    int n0 = MklJit.problemCount();
    Blas.gemmAt(false, false, big, big, big, 1.0, x, 0, big, x, 0, big, 0.0, y, 0, big); // 16.8M multiply-adds
    assertEquals(n0, MklJit.problemCount(), "a product above MAX_WORK goes to cblas_sgemm without asking");
  }

  /** Where the sweep found the kernels slower, products stay with cblas_sgemm. */
  @Test
  void kernelsOnlyWhereTheyWereMeasuredFaster() {
    assertTrue(MklJit.worthIt(false, 64, 32, 128), "P v of a head");
    assertTrue(MklJit.worthIt(false, 8, 384, 128), "a decode step's c_attn");
    assertTrue(MklJit.worthIt(true, 64, 128, 32), "q k^T of a head: b transposed, a short sum and a narrow output");
    assertFalse(MklJit.worthIt(true, 8, 512, 384), "b transposed, a wide output");
    assertFalse(MklJit.worthIt(true, 64, 128, 128), "b transposed, a longer sum");
    assertFalse(MklJit.worthIt(false, 128, 512, 32), "a wide output over a short sum");
    assertFalse(MklJit.worthIt(false, 512, 768, 256), "above MAX_WORK");
    assertFalse(MklJit.worthIt(false, 4, 4, 0), "no sum");
  }

  @Test
  void badSettingIsRejectedWithItsName() {
    String old = System.getProperty(MklJit.PROPERTY);
    try {
      System.setProperty(MklJit.PROPERTY, "sometimes");
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, MklJit::requested);
      assertTrue(e.getMessage().contains("rlhf4j.blas.jit") && e.getMessage().contains("sometimes"), e.getMessage());
      System.setProperty(MklJit.PROPERTY, "FALSE");
      assertFalse(MklJit.requested());
    } finally {
      if (old == null) {
        System.clearProperty(MklJit.PROPERTY);
      } else {
        System.setProperty(MklJit.PROPERTY, old);
      }
    }
  }

  private static Tensor filled(Random r, long length) {
    float[] v = new float[(int) length];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) r.nextGaussian();
    }
    INDArray x = Nd4j.create(v, new long[] {length}, 'c');
    return Tensor.of(x);
  }

  private static double[] values(Tensor t) {
    float[] f = new float[t.length()];
    t.asFloatBuffer().get(0, f, 0, f.length);
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }
}
