package org.rlhf4j.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import java.util.Set;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The products of {@link Blas} (direct OpenBLAS calls, split over threads by output columns or rows) against
 * a Java reference in double, on views at offsets inside larger buffers, for every transposition;
 * the same split twice gives identical results; the start-up check passes on this machine; and the core
 * type choice from CPU flags.
 */
class BlasTest {

  private static Tensor randomTensor(Random r, DataType type, long rows, long cols) {
    // A view at an odd offset inside a larger buffer, as the arena hands out.
    INDArray buf = Nd4j.create(type, rows * cols + 21);
    for (long i = 0; i < buf.length(); i++) {
      buf.putScalar(i, r.nextGaussian());
    }
    INDArray view = buf.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(5, 5 + rows * cols)).reshape('c', rows, cols);
    return Tensor.of(view);
  }

  private static double[][] reference(Tensor a, Tensor b, Tensor c0, boolean ta, boolean tb, double alpha, double beta) {
    INDArray a2 = ta ? a.array().transpose() : a.array();
    INDArray b2 = tb ? b.array().transpose() : b.array();
    int m = (int) a2.size(0);
    int k = (int) a2.size(1);
    int n = (int) b2.size(1);
    double[][] out = new double[m][n];
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int p = 0; p < k; p++) {
          s += a2.getDouble(i, p) * b2.getDouble(p, j);
        }
        out[i][j] = alpha * s + beta * c0.array().getDouble(i, j);
      }
    }
    return out;
  }

  @Test
  void splitProductsMatchTheReferenceAndTheUnsplitProduct() {
    checkSplitProducts(new Random(3), 24, 200, 130); // column blocks of multiples of 16, the last one ragged
  }

  /**
   * Products with more output rows than columns are split by blocks of rows with OpenBLAS ({@link
   * Blas#splitsByRows}): they match the reference at every transposition and thread count (ragged
   * last block included), and the same split twice gives the same floats. (Not always the unsplit
   * product's: OpenBLAS's kernels for a block's last rows may round differently.)
   */
  @Test
  void rowSplitProductsMatchTheReference() {
    Blas.validation(); // chooses the route
    assertEquals(!CpuBackend.mklLoaded(), Blas.splitsByRows(200, 24), "row splits with OpenBLAS only");
    checkSplitProducts(new Random(4), 200, 24, 130); // row blocks of multiples of 16, the last one ragged
  }

  /**
   * {@code [m, k] x [k, n]} products, float and double, every transposition, split over 1, 2, 3 and 5
   * threads (forced at this size): each matches the reference, and the same split twice gives the
   * same floats.
   */
  private static void checkSplitProducts(Random r, int m, int n, int k) {
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      for (int t = 0; t < 4; t++) {
        boolean ta = (t & 1) != 0;
        boolean tb = (t & 2) != 0;
        Tensor a = ta ? randomTensor(r, type, k, m) : randomTensor(r, type, m, k);
        Tensor b = tb ? randomTensor(r, type, n, k) : randomTensor(r, type, k, n);
        Tensor c0 = randomTensor(r, type, m, n);
        double[][] want = reference(a, b, c0, ta, tb, 0.5, 0.25);
        for (int ways : new int[] {1, 2, 3, 5}) {
          INDArray first = null;
          for (int rep = 0; rep < 2; rep++) {
            Tensor c = randomTensor(r, type, m, n);
            c.array().assign(c0.array());
            long saved = Blas.minSplitWork;
            Blas.minSplitWork = 1; // force the split at this size
            try {
              Blas.gemm(a, b, c, ta, tb, 0.5, 0.25, ways);
            } finally {
              Blas.minSplitWork = saved;
            }
            double tol = type == DataType.FLOAT ? 1e-4 : 1e-12;
            for (int i = 0; i < m; i++) {
              for (int j = 0; j < n; j++) {
                assertEquals(want[i][j], c.array().getDouble(i, j), tol * (1 + Math.abs(want[i][j])), type + " " + ta + tb + " ways " + ways + " at " + i + "," + j);
              }
            }
            if (first == null) {
              first = c.array().dup();
            } else {
              assertEquals(0.0, first.sub(c.array()).amaxNumber().doubleValue(), 0.0, "same split, different result: ways " + ways);
            }
          }
        }
      }
    }
  }

  @Test
  void oneRowProductsMatchTheReferenceSplitOrNot() {
    // One-row products take OpenBLAS's gemv; with beta = 0 the output's old contents (here NaN) must
    // not leak into the result (gemv computes beta * c, and 0 * NaN is NaN).
    Random r = new Random(5);
    int n = 200;
    int k = 77;
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      for (int t = 0; t < 4; t++) {
        boolean ta = (t & 1) != 0;
        boolean tb = (t & 2) != 0;
        Tensor a = ta ? randomTensor(r, type, k, 1) : randomTensor(r, type, 1, k);
        Tensor b = tb ? randomTensor(r, type, n, k) : randomTensor(r, type, k, n);
        Tensor c0 = randomTensor(r, type, 1, n);
        for (double beta : new double[] {0.0, 0.25}) {
          double[][] want = reference(a, b, c0, ta, tb, 0.5, beta);
          for (int ways : new int[] {1, 2, 3}) {
            Tensor c = randomTensor(r, type, 1, n);
            c.array().assign(c0.array());
            if (beta == 0) {
              c.array().assign(Double.NaN);
            }
            long saved = Blas.minSplitWork;
            Blas.minSplitWork = 1;
            try {
              Blas.gemm(a, b, c, ta, tb, 0.5, beta, ways);
            } finally {
              Blas.minSplitWork = saved;
            }
            double tol = type == DataType.FLOAT ? 1e-4 : 1e-12;
            for (int j = 0; j < n; j++) {
              assertEquals(want[0][j], c.array().getDouble(0, j), tol * (1 + Math.abs(want[0][j])), type + " " + ta + tb + " beta " + beta + " ways " + ways + " at " + j);
            }
          }
        }
      }
    }
  }

  /**
   * {@link Blas#gemmAt}: blocks inside bigger matrices (offsets, row strides wider than the block),
   * every transposition, float and double, alpha and beta, against a reference on the same elements;
   * the elements of {@code c} outside the block are untouched.
   */
  @Test
  void productsOfBlocksAtOffsetsAndStridesMatchTheReference() {
    Random r = new Random(9);
    int m = 7;
    int n = 5;
    int k = 6;
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      for (int ta = 0; ta < 2; ta++) {
        for (int tb = 0; tb < 2; tb++) {
          boolean transA = ta == 1;
          boolean transB = tb == 1;
          int lda = (transA ? m : k) + 3;
          int ldb = (transB ? k : n) + 4;
          int ldc = n + 2;
          Tensor a = randomTensor(r, type, (transA ? k : m) + 1, lda);
          Tensor b = randomTensor(r, type, (transB ? n : k) + 2, ldb);
          Tensor c = randomTensor(r, type, m + 1, ldc);
          long aOff = lda + 2; // block starts at row 1, column 2
          long bOff = 2L * ldb + 1;
          long cOff = ldc + 1;
          double[] before = c.array().castTo(DataType.DOUBLE).data().asDouble();
          Blas.gemmAt(transA, transB, m, n, k, 0.5, a, aOff, lda, b, bOff, ldb, 0.25, c, cOff, ldc);
          double[] after = c.array().castTo(DataType.DOUBLE).data().asDouble();
          double tol = type == DataType.FLOAT ? 1e-5 : 1e-12;
          for (int idx = 0; idx < after.length; idx++) {
            int row = idx / ldc;
            int col = idx % ldc;
            int i = row - 1;
            int j = col - 1;
            if (i < 0 || i >= m || j < 0 || j >= n) {
              assertEquals(before[idx], after[idx], 0.0, "outside the block: " + idx);
              continue;
            }
            double s = 0;
            for (int p = 0; p < k; p++) {
              double x = a.get((int) (aOff + (transA ? (long) p * lda + i : (long) i * lda + p)));
              double y = b.get((int) (bOff + (transB ? (long) j * ldb + p : (long) p * ldb + j)));
              s += x * y;
            }
            assertEquals(0.5 * s + 0.25 * before[idx], after[idx], tol, type + " transA=" + transA + " transB=" + transB + " (" + i + "," + j + ")");
          }
        }
      }
    }
    Tensor small = randomTensor(r, DataType.FLOAT, 2, 2);
    org.junit.jupiter.api.Assertions.assertThrows(
        IllegalArgumentException.class, () -> Blas.gemmAt(false, false, 2, 2, 2, 1, small, 1, 2, small, 0, 2, 0, small, 0, 2));
  }

  @Test
  void batchedProductsMatchTheReference() {
    Random r = new Random(4);
    Tensor a = randomTensor(r, DataType.DOUBLE, 3 * 5, 7).reshape(3, 5, 7);
    Tensor b = randomTensor(r, DataType.DOUBLE, 3 * 6, 7).reshape(3, 6, 7);
    Tensor c = randomTensor(r, DataType.DOUBLE, 3 * 5, 6).reshape(3, 5, 6);
    Blas.batchedMatmul(a, b, c, false, true);
    for (int i = 0; i < 3; i++) {
      INDArray want = a.array().slice(i).mmul(b.array().slice(i).transpose());
      assertEquals(0.0, want.sub(c.array().slice(i)).amaxNumber().doubleValue(), 1e-12);
    }
  }

  @Test
  void startUpCheckPassesOnThisMachine() {
    String v = Blas.validation();
    assertTrue(v.startsWith("DIRECT"), v);
    assertNotNull(CpuBackend.cpuDescription());
    String blas = CpuBackend.blasDescription().orElseThrow();
    assertTrue(CpuBackend.mklLoaded() ? blas.contains("Math Kernel Library") && v.contains("direct MKL calls agree")
        : blas.contains("OpenBLAS") && v.contains("direct OpenBLAS calls agree"), blas + " / " + v);
  }

  /**
   * OpenBLAS's small-matrix kernels in column blocks give the floats of the whole products: here when
   * this JVM runs OpenBLAS's SkylakeX kernels, in a child JVM on OpenBLAS when this one runs MKL.
   */
  @Test
  void smallMatrixBlocksGiveTheWholeProductsFloats() throws Exception {
    Blas.validation();
    if (CpuBackend.mklLoaded()) {
      String text = BlasLibraryTest.childJvmOutput(SmallBlocksMain.class, "-Drlhf4j.blas=openblas");
      assumeTrue(!text.contains("SMALL BLOCKS OFF"), "products go to OpenBLAS's small-matrix kernels only with its SkylakeX kernels: " + text);
      assertTrue(text.contains("SMALL BLOCKS OK"), text);
      return;
    }
    assumeTrue(Blas.smallBlocksOn(), "products go to OpenBLAS's small-matrix kernels only with its SkylakeX kernels: " + Blas.validation());
    checkSmallMatrixBlocks();
  }

  /** Run in a child JVM on OpenBLAS by {@link #smallMatrixBlocksGiveTheWholeProductsFloats}. */
  public static final class SmallBlocksMain {
    public static void main(String[] args) {
      String v = Blas.validation();
      if (!Blas.smallBlocksOn()) {
        System.out.println("SMALL BLOCKS OFF: " + v);
        return;
      }
      checkSmallMatrixBlocks();
      System.out.println("SMALL BLOCKS OK: " + v);
    }
  }

  static void checkSmallMatrixBlocks() {
    Random r = new Random(11);
    int[][] shapes = {{64, 128, 384}, {64, 128, 512}, {128, 64, 512}, {64, 256, 128}, {33, 448, 128}, {100, 96, 320}, {256, 64, 128}, {40, 512, 128}};
    for (int[] s : shapes) {
      int m = s[0];
      int k = s[1];
      int n = s[2];
      assertTrue((long) m * n * k > Blas.SMALL_MATRIX_WORK && Blas.smallBlockColumns(m, k) >= 32, "a shape the blocks apply to");
      for (boolean ta : new boolean[] {false, true}) {
        for (double beta : new double[] {0, 1}) {
          for (int ways = 1; ways <= 2; ways++) {
            Tensor a = randomTensor(r, DataType.FLOAT, ta ? k : m, ta ? m : k);
            Tensor b = randomTensor(r, DataType.FLOAT, k, n);
            Tensor c = randomTensor(r, DataType.FLOAT, m, n);
            float[] av = a.array().dup().data().asFloat();
            float[] bv = b.array().dup().data().asFloat();
            float[] whole = c.array().dup().data().asFloat();
            double[][] want = reference(a, b, c, ta, false, 1.0, beta);
            if (beta == 0) {
              c.array().assign(Float.NaN); // beta 0 ignores the old contents, NaN included
            }
            Blas.gemm(a, b, c, ta, false, 1.0, beta, ways);
            // The whole product in one call (too big for the small-matrix kernels: packed).
            try (FloatPointer pa = new FloatPointer(av); FloatPointer pb = new FloatPointer(bv); FloatPointer pc = new FloatPointer(whole)) {
              openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, ta ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans,
                  openblas_nolapack.CblasNoTrans, m, n, k, 1f, pa, ta ? m : k, pb, n, (float) beta, pc, n);
              pc.get(whole);
            }
            float[] got = c.array().dup().data().asFloat();
            for (int i = 0; i < m * n; i++) {
              String where = String.format("%dx%dx%d transA=%s beta=%s ways=%d element %d", m, n, k, ta, beta, ways, i);
              assertEquals(Float.floatToRawIntBits(whole[i]), Float.floatToRawIntBits(got[i]), where + ": " + whole[i] + " vs " + got[i]);
              assertEquals(want[i / n][i % n], got[i], 1e-4 * (1 + Math.abs(want[i / n][i % n])), where);
            }
          }
        }
      }
    }
  }

  @Test
  void smallMatrixBlocksAreMultiplesOf32ColumnsWithinTheKernelsLimit() {
    assertEquals(96, Blas.smallBlockColumns(64, 128)); // 122 fit: capped at 96
    assertEquals(32, Blas.smallBlockColumns(128, 128)); // 61 fit
    assertEquals(32, Blas.smallBlockColumns(64, 448)); // 34 fit
    assertEquals(0, Blas.smallBlockColumns(256, 128)); // 30 fit: not even 32 columns
    for (int m = 1; m <= 300; m += 7) {
      for (int k = 1; k <= 448; k += 13) {
        int w = Blas.smallBlockColumns(m, k);
        assertTrue(w % 32 == 0 && w <= 96 && (long) m * k * w <= Blas.SMALL_MATRIX_WORK, m + "x" + k + ": " + w);
        assertTrue(w == 96 || (long) m * k * (w + 32) > Blas.SMALL_MATRIX_WORK, "the widest that fits: " + m + "x" + k + ": " + w);
      }
    }
  }

  @Test
  void coreTypeFollowsTheInstructionSet() {
    assertEquals("SkylakeX", CpuBackend.coreTypeFor(Set.of("avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")));
    assertEquals("Haswell", CpuBackend.coreTypeFor(Set.of("avx2", "fma", "avx512f"))); // AVX-512 F alone (Xeon Phi): not SkylakeX
    assertEquals(null, CpuBackend.coreTypeFor(Set.of("avx", "sse4_2")));
  }
}
