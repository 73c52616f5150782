package org.rlhf4j.core.tensor;

import static com.google.common.base.Preconditions.checkArgument;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Random;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Matrix products over {@link Tensor}s, computed into existing outputs.
 *
 * <p>On ND4J's CPU backend the products call the BLAS's {@code cblas_?gemm} (OpenBLAS, or Intel MKL
 * where {@link CpuBackend} chose it; with MKL, small float products go to kernels MKL generates for
 * them, see {@link MklJit}) directly on the
 * tensors' memory (no per-call ND4J op, which costs more than a small product itself) and can split
 * one product across threads: {@code ways > 1} divides the output's columns into that many blocks,
 * each computed by a single-threaded BLAS call on its own thread, so a batch of one row still uses
 * every core. The split depends only on the shapes and {@code ways}, so results are deterministic
 * for a given thread count. On other backends, or if the BLAS cannot be called, ND4J's {@code gemm}
 * and {@code matmul} are used.
 *
 * <p>The first use runs {@link CpuBackend#configure()} and then checks the chosen route on small
 * products of awkward shapes, all transpositions, float and double, against a Java reference in
 * double. A route that disagrees is logged as an error and abandoned, in the order direct BLAS,
 * ND4J, plain Java (always correct, slow); {@link #validation()} says what was found.
 */
public final class Blas {
  private static final Logger LOG = LoggerFactory.getLogger(Blas.class);
  /**
   * A product is split across threads into parts of at least this many multiply-adds (one-row
   * products, which are bound by reading the matrix rather than by arithmetic: a sixteenth of it).
   * With {@link Parallel}'s spinning hand-off a split costs well under a microsecond when the other
   * threads are idle, so parts of a few microseconds are worth it.
   */
  static volatile long minSplitWork = 1L << 17; // tests lower it

  /**
   * Work at matrix-vector speed (one-row products, attention) does far fewer multiply-adds per
   * microsecond than a matrix product: its parts may be this power of two smaller. Splitting every
   * product of a decode step also gives each thread the same block of every weight matrix, which then
   * stays in that core's cache (the {@code small} preset's 3.3 MB do not fit one core's L2, half of
   * them do).
   */
  private static final int VECTOR_SPLIT_SHIFT = 4;

  /** How products are computed. */
  enum Route {
    DIRECT,
    ND4J,
    JAVA
  }

  private static volatile Route route;
  private static String validation = "not yet validated";

  /**
   * OpenBLAS 0.3.19's SkylakeX kernels compute a float product of at most this many multiply-adds
   * ({@code M N K}) with their small-matrix kernels, which read the operands where they lie, and larger
   * ones by packing both operands into blocks first. For the products of a short batch (e.g. one
   * sequence of 64 positions: {@code [64, 128] x [128, 384]}) packing costs as much as it saves, the
   * more so when the weights come from memory rather than cache.
   */
  static final long SMALL_MATRIX_WORK = 1_000_000L;
  /** The widest column block handed to the small-matrix kernels (wider ones were no faster). */
  private static final int SMALL_BLOCK_COLUMNS = 96;
  /**
   * The deepest products split into small-matrix blocks: up to this {@code K} the packed kernels sum
   * all of {@code K} at once, as the small-matrix kernels do, so both give the same floats (measured
   * and checked at start-up; at {@code K = 512} the packed kernels sum two halves).
   */
  private static final int SMALL_BLOCK_MAX_K = 448;
  /**
   * Whether float products {@code a b} and {@code a^T b} too big for the small-matrix kernels are
   * computed as column blocks small enough for them ({@link #smallBlockColumns}): only with OpenBLAS's
   * SkylakeX kernels, and only if a start-up check finds the blocks' results equal, bit for bit, to
   * the whole product's. ({@code a b^T} is left whole: its small-matrix kernel is slower than packing.)
   */
  private static volatile boolean smallBlocks;
  /** Whether the direct route calls MKL (set when the route is chosen; reading the loaded libraries costs a file read). */
  private static volatile boolean directMkl;

  private Blas() {}

  /**
   * The fewest multiply-adds of work at matrix-vector speed (attention heads, one-row products)
   * worth a thread of their own (a split costs a thread hand-off): callers splitting attention by
   * heads use it.
   */
  public static long minSplitWork() {
    return Math.max(1, minSplitWork >> VECTOR_SPLIT_SHIFT);
  }

  /** {@code c = alpha * op(a) op(b) + beta * c} for 2-D tensors. */
  public static void gemm(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB, double alpha, double beta) {
    gemm(a, b, c, transA, transB, alpha, beta, 1);
  }

  /**
   * {@code c = alpha * op(a) op(b) + beta * c} for 2-D tensors, split over up to {@code ways} threads
   * (by blocks of output columns) when the product is large enough to gain from it.
   */
  public static void gemm(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB, double alpha, double beta, int ways) {
    Route r = route();
    if (r == Route.DIRECT) {
      direct(a, b, c, transA, transB, alpha, beta, ways);
    } else if (r == Route.ND4J) {
      Nd4j.gemm(a.array(), b.array(), c.array(), transA, transB, alpha, beta);
    } else {
      javaGemm(a, b, c, transA, transB, alpha, beta);
    }
  }

  /** {@code c = op(a) op(b)}, overwriting {@code c}. */
  public static void gemm(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB) {
    gemm(a, b, c, transA, transB, 1.0, 0.0, 1);
  }

  /** {@code c = op(a) op(b)}, overwriting {@code c}, over up to {@code ways} threads. */
  public static void gemm(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB, int ways) {
    gemm(a, b, c, transA, transB, 1.0, 0.0, ways);
  }

  /** {@code c += op(a) op(b)}. */
  public static void gemmAccumulate(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB) {
    gemm(a, b, c, transA, transB, 1.0, 1.0, 1);
  }

  /** {@code c += op(a) op(b)}, over up to {@code ways} threads. */
  public static void gemmAccumulate(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB, int ways) {
    gemm(a, b, c, transA, transB, 1.0, 1.0, ways);
  }

  /** Batched {@code c[i] = op(a[i]) op(b[i])} for 3-D tensors {@code [batch, rows, cols]}. */
  public static void batchedMatmul(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB) {
    Route r = route();
    if (r == Route.ND4J) {
      Nd4j.matmul(a.array(), b.array(), c.array(), transA, transB, false);
      return;
    }
    long[] as = a.shape();
    long[] bs = b.shape();
    long[] cs = c.shape();
    checkArgument(as.length == 3 && bs.length == 3 && cs.length == 3, "batched operands must be 3-D: %s %s %s", a, b, c);
    checkArgument(as[0] == bs[0] && as[0] == cs[0], "batch sizes differ: %s %s %s", a, b, c);
    if (r == Route.JAVA) {
      for (int i = 0; i < as[0]; i++) {
        Tensor ai = a.rows(i, i + 1).reshape(as[1], as[2]);
        Tensor bi = b.rows(i, i + 1).reshape(bs[1], bs[2]);
        Tensor ci = c.rows(i, i + 1).reshape(cs[1], cs[2]);
        javaGemm(ai, bi, ci, transA, transB, 1.0, 0.0);
      }
      return;
    }
    // Direct: one cblas call per matrix at pointer offsets (no ND4J views, which cost more than these
    // small products).
    int m = (int) cs[1];
    int n = (int) cs[2];
    int k = (int) (transA ? as[1] : as[2]);
    checkArgument(
        (transA ? as[2] : as[1]) == m && (transB ? bs[2] : bs[1]) == k && (transB ? bs[1] : bs[2]) == n,
        "batched shapes do not match: %s (transposed: %s) times %s (transposed: %s) into %s",
        a, transA, b, transB, c);
    CpuBackend.mklOneThreadOnThisThread();
    int ta = transA ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
    int tb = transB ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
    long sa = as[1] * as[2];
    long sb = bs[1] * bs[2];
    long sc = cs[1] * cs[2];
    int lda = (int) as[2];
    int ldb = (int) bs[2];
    if (c.dataType() == DataType.FLOAT) {
      FloatPointer pa = new FloatPointer(a.floatPointer());
      FloatPointer pb = new FloatPointer(b.floatPointer());
      FloatPointer pc = new FloatPointer(c.floatPointer());
      long a0 = pa.position();
      long b0 = pb.position();
      long c0 = pc.position();
      for (long i = 0; i < as[0]; i++) {
        pa.position(a0 + i * sa);
        pb.position(b0 + i * sb);
        pc.position(c0 + i * sc);
        sgemm(transA, transB, m, n, k, 1f, pa, lda, pb, ldb, 0f, pc, n);
      }
    } else {
      DoublePointer pa = new DoublePointer(a.doublePointer());
      DoublePointer pb = new DoublePointer(b.doublePointer());
      DoublePointer pc = new DoublePointer(c.doublePointer());
      long a0 = pa.position();
      long b0 = pb.position();
      long c0 = pc.position();
      for (long i = 0; i < as[0]; i++) {
        pa.position(a0 + i * sa);
        pb.position(b0 + i * sb);
        pc.position(c0 + i * sc);
        openblas_nolapack.cblas_dgemm(openblas_nolapack.CblasRowMajor, ta, tb, m, n, k, 1.0, pa, lda, pb, ldb, 0.0, pc, n);
      }
    }
  }

  /**
   * One product of matrices stored inside bigger row-major tensors: {@code C = alpha * op(A) op(B) +
   * beta * C} with {@code C} the {@code [m, n]} block of {@code c} starting at element {@code cOff}
   * with row stride {@code ldc}, {@code op(A)} {@code [m, k]} and {@code op(B)} {@code [k, n]} likewise
   * ({@code A} stored {@code [k, m]} if {@code transA}, {@code B} stored {@code [n, k]} if {@code
   * transB}). E.g. one attention head's queries inside the projections {@code qkv [n, 3d]}: offset
   * {@code h * dh}, stride {@code 3d}, so the heads need no copies. One single-threaded BLAS call on
   * the direct route (with {@code beta == 0} the old contents of {@code C} are ignored, NaN
   * included), plain Java on the others.
   */
  public static void gemmAt(
      boolean transA, boolean transB, int m, int n, int k, double alpha, Tensor a, long aOff, int lda, Tensor b, long bOff, int ldb,
      double beta, Tensor c, long cOff, int ldc) {
    checkArgument(a.dataType() == c.dataType() && b.dataType() == c.dataType(), "mixed types: %s %s %s", a, b, c);
    checkArgument(m >= 0 && n >= 0 && k >= 0, "negative size %s x %s x %s", m, n, k);
    checkArgument(lda >= (transA ? m : k) && ldb >= (transB ? k : n) && ldc >= n, "leading dimensions %s %s %s too small for %s x %s x %s", lda, ldb, ldc, m, n, k);
    checkArgument(
        m == 0 || n == 0 || (aOff >= 0 && aOff + (long) ((transA ? k : m) - 1) * lda + (transA ? m : k) <= a.length()
            && bOff >= 0 && bOff + (long) ((transB ? n : k) - 1) * ldb + (transB ? k : n) <= b.length()
            && cOff >= 0 && cOff + (long) (m - 1) * ldc + n <= c.length()),
        "blocks outside their tensors: %s at %s, %s at %s, %s at %s (%s x %s x %s)", a, aOff, b, bOff, c, cOff, m, n, k);
    if (m == 0 || n == 0) {
      return;
    }
    if (route() != Route.DIRECT) {
      javaGemmAt(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
      return;
    }
    directAt(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
  }

  /** {@link #gemmAt} on the direct route, unchecked: one single-threaded BLAS call. */
  private static void directAt(
      boolean transA, boolean transB, int m, int n, int k, double alpha, Tensor a, long aOff, int lda, Tensor b, long bOff, int ldb,
      double beta, Tensor c, long cOff, int ldc) {
    CpuBackend.mklOneThreadOnThisThread();
    int ta = transA ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
    int tb = transB ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
    if (c.dataType() == DataType.FLOAT) {
      FloatPointer pa = offset(a.floatPointer(), aOff, 0);
      FloatPointer pb = offset(b.floatPointer(), bOff, 1);
      FloatPointer pc = offset(c.floatPointer(), cOff, 2);
      sgemm(transA, transB, m, n, k, (float) alpha, pa, lda, pb, ldb, (float) beta, pc, ldc);
    } else {
      openblas_nolapack.cblas_dgemm(
          openblas_nolapack.CblasRowMajor, ta, tb, m, n, k, alpha, offset(a.doublePointer(), aOff, 0), lda,
          offset(b.doublePointer(), bOff, 1), ldb, beta, offset(c.doublePointer(), cOff, 2), ldc);
    }
  }

  /** {@link #gemmAt} in Java, in double, for either type (the fallback routes). */
  private static void javaGemmAt(
      boolean transA, boolean transB, int m, int n, int k, double alpha, Tensor a, long aOff, int lda, Tensor b, long bOff, int ldb,
      double beta, Tensor c, long cOff, int ldc) {
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double sum = 0;
        for (int p = 0; p < k; p++) {
          double x = a.get((int) (aOff + (transA ? (long) p * lda + i : (long) i * lda + p)));
          double y = b.get((int) (bOff + (transB ? (long) j * ldb + p : (long) p * ldb + j)));
          sum += x * y;
        }
        long idx = cOff + (long) i * ldc + j;
        double v = alpha * sum + (beta == 0 ? 0 : beta * c.get((int) idx));
        if (c.dataType() == DataType.FLOAT) {
          c.writableFloatBuffer().put((int) idx, (float) v);
        } else {
          c.writableDoubleBuffer().put((int) idx, v);
        }
      }
    }
  }

  /**
   * {@code y = alpha * op(A) x + beta * y} on FLOAT tensors at element offsets: {@code A} row-major
   * {@code [rows, cols]} with leading dimension {@code lda} from {@code aOff}; {@code op(A) = A^T}
   * if {@code trans}; {@code x} and {@code y} contiguous. For kernels (attention over a cache).
   */
  static void gemvFloat(boolean trans, int rows, int cols, double alpha, Tensor a, int aOff, int lda, Tensor x, int xOff, double beta, Tensor y, int yOff) {
    int ny = trans ? cols : rows;
    if (route() != Route.DIRECT) {
      javaGemv(trans, rows, cols, alpha, a, aOff, lda, x, xOff, beta, y, yOff);
      return;
    }
    if (beta == 0) { // gemv computes beta * y, and 0 * NaN is NaN
      zero(y.writableFloatBuffer(), yOff, ny);
    }
    CpuBackend.mklOneThreadOnThisThread();
    openblas_nolapack.cblas_sgemv(
        openblas_nolapack.CblasRowMajor,
        trans ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans,
        rows, cols, (float) alpha,
        offset(a.floatPointer(), aOff, 0), lda, offset(x.floatPointer(), xOff, 1), 1,
        (float) beta, offset(y.floatPointer(), yOff, 2), 1);
  }

  /**
   * One row times a block of a matrix, for a thread's share of a one-row product: {@code y[yOff + j]
   * = (accumulate ? y[yOff + j] : 0) + sum_{p < rows} x[xOff + p] * b[row0 + p, col0 + j]} for {@code
   * j < cols}, with {@code b} a row-major 2-D tensor; touches no other element of {@code y}. A
   * split by columns ({@code row0 = 0, rows = b.size(0)}) gives each element the same sum as the
   * unsplit product; a split by rows gives partial sums.
   */
  public static void rowTimesBlock(Tensor x, int xOff, Tensor b, int row0, int rows, int col0, int cols, Tensor y, int yOff, boolean accumulate) {
    // (checks without varargs: this runs a dozen times per layer of a decode step)
    checkArgument(b.rank() == 2, "b must be 2-D: %s", b);
    int ldb = (int) b.size(1);
    if (row0 < 0 || rows < 0 || row0 + rows > b.size(0) || col0 < 0 || cols < 0 || col0 + cols > ldb) {
      throw new IllegalArgumentException(
          "block rows [" + row0 + ", " + (row0 + rows) + ") x columns [" + col0 + ", " + (col0 + cols) + ") outside " + b);
    }
    if (xOff < 0 || xOff + rows > x.length() || yOff < 0 || yOff + cols > y.length()) {
      throw new IllegalArgumentException(
          "x [" + xOff + ", " + (xOff + rows) + ") outside " + x + " or y [" + yOff + ", " + (yOff + cols) + ") outside " + y);
    }
    if (x.dataType() != b.dataType() || y.dataType() != b.dataType()) {
      throw new IllegalArgumentException("mixed types: " + x + " " + b + " " + y);
    }
    if (cols == 0) {
      return;
    }
    double beta = accumulate ? 1 : 0;
    if (b.dataType() == DataType.FLOAT) {
      gemvFloat(true, rows, cols, 1.0, b, row0 * ldb + col0, ldb, x, xOff, beta, y, yOff);
    } else {
      gemvDouble(true, rows, cols, 1.0, b, row0 * ldb + col0, ldb, x, xOff, beta, y, yOff);
    }
  }

  /** {@link #gemvFloat} for DOUBLE tensors. */
  static void gemvDouble(boolean trans, int rows, int cols, double alpha, Tensor a, int aOff, int lda, Tensor x, int xOff, double beta, Tensor y, int yOff) {
    int ny = trans ? cols : rows;
    if (route() != Route.DIRECT) {
      javaGemv(trans, rows, cols, alpha, a, aOff, lda, x, xOff, beta, y, yOff);
      return;
    }
    if (beta == 0) {
      zero(y.writableDoubleBuffer(), yOff, ny);
    }
    CpuBackend.mklOneThreadOnThisThread();
    openblas_nolapack.cblas_dgemv(
        openblas_nolapack.CblasRowMajor,
        trans ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans,
        rows, cols, alpha,
        offset(a.doublePointer(), aOff, 0), lda, offset(x.doublePointer(), xOff, 1), 1,
        beta, offset(y.doublePointer(), yOff, 2), 1);
  }

  /** {@link #gemvFloat} in Java, in double, for either type (the fallback routes). */
  private static void javaGemv(boolean trans, int rows, int cols, double alpha, Tensor a, int aOff, int lda, Tensor x, int xOff, double beta, Tensor y, int yOff) {
    int ny = trans ? cols : rows;
    int nx = trans ? rows : cols;
    for (int i = 0; i < ny; i++) {
      double sum = 0;
      for (int p = 0; p < nx; p++) {
        double av = a.get(aOff + (trans ? p * lda + i : i * lda + p));
        sum += av * x.get(xOff + p);
      }
      double v = alpha * sum + (beta == 0 ? 0 : beta * y.get(yOff + i));
      if (y.dataType() == DataType.FLOAT) {
        y.writableFloatBuffer().put(yOff + i, (float) v);
      } else {
        y.writableDoubleBuffer().put(yOff + i, v);
      }
    }
  }

  /** Which route products take, and what the start-up check found (runs the check if needed). */
  public static synchronized String validation() {
    route();
    return route + ": " + validation;
  }

  private static Route route() {
    Route r = route;
    if (r == null) {
      synchronized (Blas.class) {
        if (route == null) {
          route = chooseRoute();
        }
        r = route;
      }
    }
    return r;
  }

  private static Route chooseRoute() {
    CpuBackend.configure();
    MklJit.requested(); // a bad setting is the caller's error, not a failed BLAS route
    boolean cpu = Nd4j.getBackend().getClass().getName().toLowerCase(java.util.Locale.ROOT).contains("cpu");
    StringBuilder log = new StringBuilder();
    if (cpu) {
      try {
        route = Route.DIRECT;
        openblas_nolapack.cblas_sdot(0, (float[]) null, 1, (float[]) null, 1); // loads the library
        CpuBackend.makeDirectBlasSingleThreaded();
        String jit = MklJit.start();
        String bad = check();
        if (bad != null && MklJit.on()) { // again without the generated kernels: were they the ones that disagreed?
          MklJit.stop();
          String without = check();
          if (without == null) {
            jit = "off (its kernels disagree with the Java reference: " + bad + ")";
            LOG.error("MKL's JIT kernels disagree with the Java reference ({}); small products use cblas_sgemm", bad);
          }
          bad = without;
        }
        boolean mkl = CpuBackend.mklLoaded();
        directMkl = mkl;
        String name = mkl ? "MKL" : "OpenBLAS";
        if (bad == null) {
          validation = "direct " + name + " calls agree with the Java reference";
          if (mkl) {
            validation += jit.isEmpty() ? " (small products: MKL's JIT kernels)" : "; MKL's JIT kernels " + jit;
          }
          String small = chooseSmallBlocks();
          if (!small.isEmpty()) {
            validation += "; " + small;
          }
          return Route.DIRECT;
        }
        log.append("direct ").append(name).append(": ").append(bad).append("; ");
      } catch (RuntimeException | LinkageError e) {
        log.append("direct BLAS unavailable (").append(e).append("); ");
      }
    }
    route = Route.ND4J;
    String bad = check();
    if (bad == null) {
      validation = log + "ND4J's gemm agrees with the Java reference";
      if (log.length() > 0 && cpu) {
        LOG.error("BLAS check: {}; using ND4J's gemm", log);
      }
      return Route.ND4J;
    }
    validation = log + "ND4J's gemm: " + bad + "; using plain Java products (slow but correct)";
    LOG.error(
        "BLAS check failed: {}. The BLAS kernels chosen for this CPU compute wrong results; choose others with -D{}=openblas"
            + " (instead of MKL), OPENBLAS_CORETYPE (e.g. Haswell) or -D{}=none",
        validation,
        CpuBackend.LIBRARY_PROPERTY,
        CpuBackend.PROPERTY);
    return Route.JAVA;
  }

  /**
   * Turns {@link #smallBlocks} on if the direct OpenBLAS runs its SkylakeX kernels and the product
   * path with small-matrix blocks gives exactly the floats of the whole products on probe products
   * (both orientations of {@code a}, {@code beta} 0 over NaN and 1, depths up to {@link
   * #SMALL_BLOCK_MAX_K}); says what it chose (empty: not applicable).
   */
  private static String chooseSmallBlocks() {
    smallBlocks = false;
    String core = CpuBackend.directBlasCoreName().orElse("");
    if (!core.equalsIgnoreCase("SkylakeX")) {
      return "";
    }
    int[][] shapes = {{64, 128, 384}, {128, 64, 512}, {64, 256, 128}, {40, 448, 192}, {100, 100, 320}};
    Random rnd = new Random(7);
    for (int[] s : shapes) {
      int m = s[0];
      int k = s[1];
      int n = s[2];
      for (int ta = 0; ta < 2; ta++) {
        for (int beta = 0; beta < 2; beta++) {
          boolean transA = ta == 1;
          try (INDArray a = Nd4j.create(randoms(rnd, m * k), transA ? new long[] {k, m} : new long[] {m, k}, 'c').castTo(DataType.FLOAT);
              INDArray b = Nd4j.create(randoms(rnd, k * n), new long[] {k, n}, 'c').castTo(DataType.FLOAT);
              INDArray whole = Nd4j.create(randoms(rnd, m * n), new long[] {m, n}, 'c').castTo(DataType.FLOAT);
              INDArray blocks = whole.dup()) {
            if (beta == 0) {
              blocks.assign(Float.NaN); // beta 0 must ignore the old contents
            }
            smallBlocks = false;
            direct(Tensor.of(a), Tensor.of(b), Tensor.of(whole), transA, false, 1, beta, 1);
            smallBlocks = true;
            direct(Tensor.of(a), Tensor.of(b), Tensor.of(blocks), transA, false, 1, beta, 1);
            smallBlocks = false;
            float[] w = whole.data().asFloat();
            float[] got = blocks.data().asFloat();
            for (int i = 0; i < w.length; i++) {
              if (Float.floatToRawIntBits(w[i]) != Float.floatToRawIntBits(got[i])) {
                LOG.info("OpenBLAS's small-matrix kernels differ from its packed ones ({}x{}x{}, transA={}, beta={}); products are not split for them", m, n,
                    k, transA, beta);
                return "small-matrix blocks off: they differ from whole products";
              }
            }
          }
        }
      }
    }
    smallBlocks = true;
    return "products a b and a^T b of sums up to " + SMALL_BLOCK_MAX_K + " deep in column blocks for OpenBLAS's small-matrix kernels"
        + " (at most " + SMALL_MATRIX_WORK + " multiply-adds each; the same floats as whole products)";
  }

  /**
   * The width of the column blocks of an {@code [m, k]} times {@code [k, n]} float product computed
   * with the small-matrix kernels: the widest multiple of 32 columns (at most {@link
   * #SMALL_BLOCK_COLUMNS}) within {@link #SMALL_MATRIX_WORK}; 0 if even 32 columns are too many.
   */
  static int smallBlockColumns(int m, int k) {
    long fit = SMALL_MATRIX_WORK / Math.max(1L, (long) m * k) / 32 * 32;
    return (int) Math.min(fit, SMALL_BLOCK_COLUMNS);
  }

  /** Whether products go to the small-matrix kernels in column blocks (runs the start-up check if needed). */
  static boolean smallBlocksOn() {
    route();
    return smallBlocks;
  }

  /**
   * Whether the columns {@code [j0, j1)} of a float product are computed as small-matrix blocks: on
   * when {@link #smallBlocks}, {@code b} not transposed, {@code alpha} 1 and {@code beta} 0 or 1 (the
   * kernels round {@code alpha * sum + beta * c} differently otherwise), {@code k} at most {@link
   * #SMALL_BLOCK_MAX_K}, the columns in whole blocks of 32 and the product too big for the
   * small-matrix kernels as it is.
   */
  private static boolean inSmallBlocks(boolean transB, double alpha, double beta, int m, int k, int j0, int j1) {
    return smallBlocks && !transB && alpha == 1 && (beta == 0 || beta == 1) && k <= SMALL_BLOCK_MAX_K && j0 % 32 == 0 && (j1 - j0) % 32 == 0
        && (long) m * (j1 - j0) * k > SMALL_MATRIX_WORK && smallBlockColumns(m, k) >= 32;
  }

  /** Checks the current route against a double reference; {@code null} if it agrees, else the failure. */
  private static String check() {
    int[][] shapes = {{37, 53, 71}, {1, 129, 67}, {96, 160, 128}};
    Random rnd = new Random(42);
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      for (int[] s : shapes) {
        for (int ta = 0; ta < 2; ta++) {
          for (int tb = 0; tb < 2; tb++) {
            int m = s[0];
            int n = s[1];
            int k = s[2];
            double[] av = randoms(rnd, m * k);
            double[] bv = randoms(rnd, k * n);
            double[] cv = randoms(rnd, m * n);
            boolean transA = ta == 1;
            boolean transB = tb == 1;
            try (INDArray a = Nd4j.create(av, transA ? new long[] {k, m} : new long[] {m, k}, 'c').castTo(type);
                INDArray b = Nd4j.create(bv, transB ? new long[] {n, k} : new long[] {k, n}, 'c').castTo(type);
                INDArray c = Nd4j.create(cv, new long[] {m, n}, 'c').castTo(type)) {
              double[] ad = a.castTo(DataType.DOUBLE).data().asDouble();
              double[] bd = b.castTo(DataType.DOUBLE).data().asDouble();
              double[] cd = c.castTo(DataType.DOUBLE).data().asDouble();
              gemm(Tensor.of(a), Tensor.of(b), Tensor.of(c), transA, transB, 0.75, 0.5, 2);
              double[] got = c.castTo(DataType.DOUBLE).data().asDouble();
              double tol = type == DataType.FLOAT ? 1e-4 : 1e-11;
              for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                  double sum = 0;
                  double mag = Math.abs(0.5 * cd[i * n + j]);
                  for (int p = 0; p < k; p++) {
                    double x = transA ? ad[p * m + i] : ad[i * k + p];
                    double y = transB ? bd[j * k + p] : bd[p * n + j];
                    sum += x * y;
                    mag += Math.abs(0.75 * x * y);
                  }
                  double want = 0.75 * sum + 0.5 * cd[i * n + j];
                  if (!(Math.abs(got[i * n + j] - want) <= tol * (mag + 1e-30))) {
                    return String.format(
                        java.util.Locale.ROOT,
                        "%s %dx%dx%d transA=%s transB=%s: element (%d,%d) is %s, expected %s",
                        type, m, n, k, transA, transB, i, j, got[i * n + j], want);
                  }
                }
              }
            }
          }
        }
      }
    }
    return null;
  }

  private static double[] randoms(Random rnd, int n) {
    double[] x = new double[n];
    for (int i = 0; i < n; i++) {
      x[i] = rnd.nextGaussian();
    }
    return x;
  }

  // ---------------------------------------------------------------- direct OpenBLAS

  private static void direct(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB, double alpha, double beta, int ways) {
    long[] as = a.shape();
    long[] bs = b.shape();
    long[] cs = c.shape();
    checkArgument(as.length == 2 && bs.length == 2 && cs.length == 2, "gemm operands must be 2-D: %s %s %s", a, b, c);
    int m = (int) cs[0];
    int n = (int) cs[1];
    int k = (int) (transA ? as[0] : as[1]);
    checkArgument(
        (transA ? as[1] : as[0]) == m && (transB ? bs[1] : bs[0]) == k && (transB ? bs[0] : bs[1]) == n,
        "gemm shapes do not match: op(a) of %s (transposed: %s) times op(b) of %s (transposed: %s) into %s",
        a, transA, b, transB, c);
    checkArgument(a.dataType() == c.dataType() && b.dataType() == c.dataType(), "mixed types: %s %s %s", a, b, c);
    if (m == 0 || n == 0) {
      return;
    }
    int lda = (int) as[1];
    int ldb = (int) bs[1];
    long work = (long) m * n * k;
    long minPart = Math.max(1, m == 1 ? minSplitWork >> VECTOR_SPLIT_SHIFT : minSplitWork);
    boolean byRows = splitsByRows(m, n);
    int parts = (int) Math.max(1, Math.min(Math.min(ways, work / minPart), (byRows ? m : n) / 16));
    if (parts <= 1) {
      block(a, b, c, transA, transB, alpha, beta, m, n, k, lda, ldb, 0, n);
      return;
    }
    if (byRows) { // blocks of 16-row multiples
      int[] rows = edges(m, parts, 15);
      Parallel.forEach(parts, p -> rowBlock(a, b, c, transA, transB, alpha, beta, n, k, lda, ldb, rows[p], rows[p + 1]));
      return;
    }
    // Column blocks of 16-element multiples (32 when they go to the small-matrix kernels).
    int[] edges = edges(n, parts, c.dataType() == DataType.FLOAT && inSmallBlocks(transB, alpha, beta, m, k, 0, n) ? 31 : 15);
    Parallel.forEach(
        parts, p -> block(a, b, c, transA, transB, alpha, beta, m, n, k, lda, ldb, edges[p], edges[p + 1]));
  }

  /**
   * The edges {@code 0 = e[0] < ... < e[parts] = units} of {@code parts} blocks whose inner edges are
   * multiples of {@code align + 1} (a power of two), the same for the same arguments.
   */
  private static int[] edges(int units, int parts, int align) {
    int[] e = new int[parts + 1];
    for (int p = 0; p <= parts; p++) {
      e[p] = p == parts ? units : (int) ((long) units * p / parts) & ~align;
    }
    return e;
  }

  /**
   * Whether a product split over threads is split by blocks of output rows rather than columns: with
   * OpenBLAS, when it has more output rows than columns (a product over the tokens of a whole batch,
   * e.g. the gradient of a {@code [4096, 256]} weight over 1,024 tokens). Each thread then packs its
   * own rows of {@code op(a)} and all of {@code op(b)}, where a column split has each thread pack all
   * of {@code op(a)}: measured on a Zen 5 with 2 threads, 3.5-7 % faster for the Llama benchmark's
   * weight gradients of 688 and 4,096 rows, within 2 % either way for its other products, a Llama
   * training step 1.4-1.8 % faster with gradients equal bit for bit to the column split's (small
   * products may round differently, as OpenBLAS's kernels for a block's last rows can). With MKL,
   * products stay split by columns (not measured there).
   */
  static boolean splitsByRows(int m, int n) {
    return m > n && m >= 64 && !directMkl;
  }

  /** Rows {@code [i0, i1)} of {@code c} (all its columns), with {@code gemm}. */
  private static void rowBlock(
      Tensor a, Tensor b, Tensor c, boolean transA, boolean transB, double alpha, double beta, int n, int k, int lda, int ldb, int i0, int i1) {
    long aOffset = transA ? i0 : (long) i0 * lda; // op(a)'s rows are a's columns when transposed
    directAt(transA, transB, i1 - i0, n, k, alpha, a, aOffset, lda, b, 0, ldb, beta, c, (long) i0 * n, n);
  }

  /** Columns {@code [j0, j1)} of {@code c}. */
  private static void block(
      Tensor a, Tensor b, Tensor c, boolean transA, boolean transB, double alpha, double beta, int m, int n, int k, int lda, int ldb, int j0, int j1) {
    CpuBackend.mklOneThreadOnThisThread();
    if (m == 1) {
      vectorBlock(a, b, c, transB, alpha, beta, n, k, ldb, j0, j1);
    } else {
      matrixBlock(a, b, c, transA, transB, alpha, beta, m, n, k, lda, ldb, j0, j1);
    }
  }

  /**
   * Columns {@code [j0, j1)} of a one-row product {@code c [1, n] = alpha * a [1, k] op(b) + beta *
   * c}, as a matrix-vector product: OpenBLAS 0.3.19's {@code gemm} packs all of {@code b} even for
   * one row, which makes it 2-4x slower than {@code gemv} at decoding sizes ({@code a} is a vector
   * with unit stride whether or not it is transposed).
   */
  private static void vectorBlock(Tensor a, Tensor b, Tensor c, boolean transB, double alpha, double beta, int n, int k, int ldb, int j0, int j1) {
    int cols = j1 - j0;
    long bOffset = transB ? (long) j0 * ldb : j0;
    // transB: b is [n, k], c_j = sum_p b[j, p] a_p (no transpose); else b is [k, n], c_j = sum_p b[p, j] a_p.
    int trans = transB ? openblas_nolapack.CblasNoTrans : openblas_nolapack.CblasTrans;
    int rows = transB ? cols : k;
    int width = transB ? k : cols;
    if (c.dataType() == DataType.FLOAT) {
      if (beta == 0) { // gemv scales c by beta, and 0 * NaN is NaN: clear it
        zero(c.writableFloatBuffer(), j0, j1 - j0);
      }
      FloatPointer pb = offset(b.floatPointer(), bOffset, 0);
      FloatPointer pc = offset(c.floatPointer(), j0, 1);
      openblas_nolapack.cblas_sgemv(
          openblas_nolapack.CblasRowMajor, trans, rows, width, (float) alpha, pb, ldb, a.floatPointer(), 1, (float) beta, pc, 1);
    } else {
      if (beta == 0) {
        zero(c.writableDoubleBuffer(), j0, j1 - j0);
      }
      DoublePointer pb = offset(b.doublePointer(), bOffset, 0);
      DoublePointer pc = offset(c.doublePointer(), j0, 1);
      openblas_nolapack.cblas_dgemv(openblas_nolapack.CblasRowMajor, trans, rows, width, alpha, pb, ldb, a.doublePointer(), 1, beta, pc, 1);
    }
  }

  /** Columns {@code [j0, j1)} of {@code c}, with {@code gemm}. */
  private static void matrixBlock(
      Tensor a, Tensor b, Tensor c, boolean transA, boolean transB, double alpha, double beta, int m, int n, int k, int lda, int ldb, int j0, int j1) {
    int ta = transA ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
    int tb = transB ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
    long bOffset = transB ? (long) j0 * ldb : j0;
    if (c.dataType() == DataType.FLOAT && inSmallBlocks(transB, alpha, beta, m, k, j0, j1)) {
      int bw = smallBlockColumns(m, k);
      for (int s0 = j0; s0 < j1; s0 += bw) { // b's and c's columns [s0, s0 + w)
        int w = Math.min(bw, j1 - s0);
        openblas_nolapack.cblas_sgemm(
            openblas_nolapack.CblasRowMajor, ta, tb, m, w, k, (float) alpha, a.floatPointer(), lda, offset(b.floatPointer(), s0, 0), ldb, (float) beta,
            offset(c.floatPointer(), s0, 1), n);
      }
      return;
    }
    if (c.dataType() == DataType.FLOAT) {
      FloatPointer pa = a.floatPointer();
      FloatPointer pb = offset(b.floatPointer(), bOffset, 0);
      FloatPointer pc = offset(c.floatPointer(), j0, 1);
      sgemm(transA, transB, m, j1 - j0, k, (float) alpha, pa, lda, pb, ldb, (float) beta, pc, n);
    } else {
      DoublePointer pa = a.doublePointer();
      DoublePointer pb = offset(b.doublePointer(), bOffset, 0);
      DoublePointer pc = offset(c.doublePointer(), j0, 1);
      openblas_nolapack.cblas_dgemm(openblas_nolapack.CblasRowMajor, ta, tb, m, j1 - j0, k, alpha, pa, lda, pb, ldb, beta, pc, n);
    }
  }

  /** One row-major float product: through MKL's generated kernel for it where {@link MklJit} has one, else {@code cblas_sgemm}. */
  private static void sgemm(
      boolean transA, boolean transB, int m, int n, int k, float alpha, FloatPointer a, int lda, FloatPointer b, int ldb, float beta, FloatPointer c,
      int ldc) {
    if (!MklJit.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) {
      openblas_nolapack.cblas_sgemm(
          openblas_nolapack.CblasRowMajor, transA ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans,
          transB ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
  }

  /**
   * {@code p} moved on by {@code elements}: one of this thread's reusable pointers ({@code slot} 0-2,
   * one per operand of a call), valid until this thread's next BLAS call. A new JavaCPP pointer per call
   * (with its deallocator proxy) cost more than a small decode-step product.
   */
  private static FloatPointer offset(FloatPointer p, long elements, int slot) {
    return elements == 0 ? p : MOVED.get().floats[slot].at(p, elements);
  }

  private static DoublePointer offset(DoublePointer p, long elements, int slot) {
    return elements == 0 ? p : MOVED.get().doubles[slot].at(p, elements);
  }

  /** A thread's reusable pointers for {@link #offset}. */
  private static final class Moved {
    final FloatAt[] floats = {new FloatAt(), new FloatAt(), new FloatAt()};
    final DoubleAt[] doubles = {new DoubleAt(), new DoubleAt(), new DoubleAt()};
  }

  private static final ThreadLocal<Moved> MOVED = ThreadLocal.withInitial(Moved::new);

  /** A float pointer set to another's address plus an offset (no allocation, no deallocator). */
  private static final class FloatAt extends FloatPointer {
    FloatAt at(FloatPointer base, long elements) {
      address = base.address();
      position = base.position() + elements;
      limit = 0;
      capacity = 0;
      return this;
    }
  }

  /** The double twin of {@link FloatAt}. */
  private static final class DoubleAt extends DoublePointer {
    DoubleAt at(DoublePointer base, long elements) {
      address = base.address();
      position = base.position() + elements;
      limit = 0;
      capacity = 0;
      return this;
    }
  }

  private static final float[] ZERO_FLOATS = new float[1024];
  private static final double[] ZERO_DOUBLES = new double[1024];

  /** Sets {@code n} elements from {@code from} to zero, with bulk copies. */
  private static void zero(FloatBuffer b, int from, int n) {
    for (int i = 0; i < n; i += ZERO_FLOATS.length) {
      b.put(from + i, ZERO_FLOATS, 0, Math.min(ZERO_FLOATS.length, n - i));
    }
  }

  private static void zero(DoubleBuffer b, int from, int n) {
    for (int i = 0; i < n; i += ZERO_DOUBLES.length) {
      b.put(from + i, ZERO_DOUBLES, 0, Math.min(ZERO_DOUBLES.length, n - i));
    }
  }

  // ---------------------------------------------------------------- plain Java (fallback)

  private static void javaGemm(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB, double alpha, double beta) {
    long[] as = a.shape();
    long[] bs = b.shape();
    long[] cs = c.shape();
    int m = (int) cs[0];
    int n = (int) cs[1];
    int k = (int) (transA ? as[0] : as[1]);
    checkArgument(
        (transA ? as[1] : as[0]) == m && (transB ? bs[1] : bs[0]) == k && (transB ? bs[0] : bs[1]) == n,
        "gemm shapes do not match: %s %s %s",
        a, b, c);
    int lda = (int) as[1];
    int ldb = (int) bs[1];
    double[] av = new double[a.length()];
    double[] bv = new double[b.length()];
    a.copyTo(0, av, av.length);
    b.copyTo(0, bv, bv.length);
    double[] row = new double[n];
    FloatBuffer cf = c.dataType() == DataType.FLOAT ? c.writableFloatBuffer() : null;
    DoubleBuffer cd = cf == null ? c.writableDoubleBuffer() : null;
    for (int i = 0; i < m; i++) {
      java.util.Arrays.fill(row, 0);
      for (int p = 0; p < k; p++) {
        double x = transA ? av[p * lda + i] : av[i * lda + p];
        for (int j = 0; j < n; j++) {
          row[j] += x * (transB ? bv[j * ldb + p] : bv[p * ldb + j]);
        }
      }
      for (int j = 0; j < n; j++) {
        int idx = i * n + j;
        if (cf != null) {
          cf.put(idx, (float) (alpha * row[j] + (beta == 0 ? 0 : beta * cf.get(idx))));
        } else {
          cd.put(idx, alpha * row[j] + (beta == 0 ? 0 : beta * cd.get(idx)));
        }
      }
    }
  }
}
