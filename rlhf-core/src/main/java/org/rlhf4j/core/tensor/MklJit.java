package org.rlhf4j.core.tensor;

import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.mkl.global.mkl_rt;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Small single-precision products through Intel MKL's JIT-generated kernels ({@code
 * mkl_cblas_jit_create_sgemm}), when MKL is the BLAS that {@link Blas} calls.
 *
 * <p>A call to {@code cblas_sgemm} spends a few microseconds deciding how to run and packing its
 * operands before it multiplies; for the products of an attention head or a decode step
 * ({@code [64, 128] x [128, 32]}, {@code [8, 128] x [128, 384]}) that is as long as the arithmetic.
 * MKL's JIT writes a kernel for one exact problem (transpositions, sizes, leading dimensions,
 * {@code alpha}, {@code beta}) that only multiplies: 1.5-1.8x faster on those shapes, measured
 * here. They are used where {@link #worthIt} says a sweep found them faster. Kernels are made on
 * first use and kept for the life of the process, at most {@link #MAX_KERNELS} of them (then the
 * others go to {@code cblas_sgemm}); MKL declines shapes it has no gain for ({@code MKL_NO_JIT}),
 * which then go to {@code cblas_sgemm} too. A kernel computes the same floats on every call, wherever
 * its operands lie in memory (tested), so results stay reproducible.
 *
 * <p>On by default with MKL; {@code -Drlhf4j.blas.jit=false} turns it off. {@link Blas} checks the
 * kernels against its Java reference at start-up along with the other products, and stops using
 * them if they disagree.
 */
final class MklJit {
  private static final Logger LOG = LoggerFactory.getLogger(MklJit.class);

  /** System property: {@code true} (default) or {@code false}. */
  static final String PROPERTY = "rlhf4j.blas.jit";

  /**
   * Products of at most this many multiply-adds (2^20) ask for a kernel. Up to 2^22 the kernels were
   * faster alone, but not in a training step of one sequence ({@code small}: its products of 1-4M
   * multiply-adds, with weights coming from memory), where they lowered the two-thread speed-up from
   * 1.59-1.62x to 1.56-1.58x (three alternating runs each).
   */
  static final long MAX_WORK = 1L << 20;

  /**
   * At most this many kernels are kept (distinct problems, e.g. of varying sequence lengths): ~7 kB
   * of native memory each (measured: 1,088 problems, 22.6 against 15.4 kB of resident memory per
   * problem without the kernels), so at most ~7.5 MB; making one took ~50 µs.
   */
  static final int MAX_KERNELS = 1024;

  /** One problem a kernel was made for. */
  private record Key(boolean transA, boolean transB, int m, int n, int k, int lda, int ldb, int ldc, float alpha, float beta) {}

  /** A generated kernel, or {@link #NONE} where MKL declined the shape. */
  private record Kernel(Pointer jitter, mkl_rt.sgemm_jit_kernel_t function) {}

  private static final Kernel NONE = new Kernel(null, null);

  private static final ConcurrentHashMap<Key, Kernel> KERNELS = new ConcurrentHashMap<>();

  private static volatile boolean on;

  private MklJit() {}

  /**
   * Turns the kernels on if MKL is loaded, its JIT bindings load, and {@value #PROPERTY} is not
   * {@code false}.
   *
   * @return why it is off, or empty if it is on
   */
  static synchronized String start() {
    if (!requested()) {
      on = false;
      return "off (-D" + PROPERTY + "=false)";
    }
    if (!CpuBackend.mklLoaded()) {
      on = false;
      return "off (the BLAS is not MKL)";
    }
    try {
      Loader.load(mkl_rt.class);
      on = true;
      // MKL makes kernels only for the CPUs it generates code for (on an AMD Zen 5 it declines every
      // shape): ask for one a step uses, so that the route's description says so.
      if (create(new Key(false, false, 64, 32, 128, 128, 32, 32, 1f, 0f)) == NONE) {
        return DECLINED;
      }
      return "";
    } catch (RuntimeException | LinkageError e) {
      LOG.warn("MKL's JIT kernels are not available ({}); small products use cblas_sgemm", e.toString());
      on = false;
      return "off (" + e + ")";
    }
  }

  /**
   * Whether {@value #PROPERTY} asks for the kernels.
   *
   * @throws IllegalArgumentException if it is neither {@code true} nor {@code false}
   */
  static boolean requested() {
    String setting = System.getProperty(PROPERTY, "true").trim().toLowerCase(Locale.ROOT);
    if (!setting.equals("true") && !setting.equals("false")) {
      throw new IllegalArgumentException("-D" + PROPERTY + " must be true or false, not '" + System.getProperty(PROPERTY) + "'");
    }
    return setting.equals("true");
  }

  /** Stops using the kernels (those made stay allocated until the process ends). */
  static synchronized void stop() {
    on = false;
  }

  /**
   * What {@link #start} returns when MKL declines a kernel for a shape it would make one for on an
   * Intel CPU (the kernels stay on: each shape is asked once, and declined ones go to {@code
   * cblas_sgemm}).
   */
  static final String DECLINED = "declined by MKL on this CPU (no kernel for the start-up probe, [64, 128] x [128, 32]); small products use cblas_sgemm";

  /** Whether small products go to generated kernels. */
  static boolean on() {
    return on;
  }

  /** How many kernels have been made (declined shapes not counted); for tests and diagnostics. */
  static int kernelCount() {
    return (int) KERNELS.values().stream().filter(k -> k != NONE).count();
  }

  /**
   * How many problems MKL has been asked for a kernel: those it made and those it declined (on an AMD
   * Zen 5, MKL 2022.0 declines every shape); for tests and diagnostics.
   */
  static int problemCount() {
    return KERNELS.size();
  }

  /**
   * {@code C = alpha op(A) op(B) + beta C}, row-major, through a generated kernel if one applies;
   * else does nothing and returns {@code false} (the caller then calls {@code cblas_sgemm}). With
   * {@code beta == 0}, {@code C}'s old contents are not read.
   */
  static boolean sgemm(
      boolean transA, boolean transB, int m, int n, int k, float alpha, FloatPointer a, int lda, FloatPointer b, int ldb, float beta,
      FloatPointer c, int ldc) {
    if (!on || !worthIt(transB, m, n, k)) {
      return false;
    }
    Key key = new Key(transA, transB, m, n, k, lda, ldb, ldc, alpha, beta);
    Kernel kernel = KERNELS.get(key);
    if (kernel == null) {
      if (KERNELS.size() >= MAX_KERNELS) {
        return false; // full: no lock taken for the problems it does not hold
      }
      kernel = create(key);
    }
    if (kernel == NONE) {
      return false;
    }
    kernel.function().call(kernel.jitter(), a, b, c);
    return true;
  }

  /**
   * Whether a generated kernel beats {@code cblas_sgemm} on this problem, by a sweep of 364 shapes
   * ({@code m} 8-256, {@code n} 32-1024, {@code k} 32-1024, up to 2^22 multiply-adds) on this
   * project's Xeon, each timed alone, best of 5: with {@code b} not transposed the kernels were
   * 1.0-2.8x as fast (median 1.4x), except for wide outputs over short sums ({@code k <= 64},
   * {@code m n >= 64k}: 0.89-1.03x); with {@code b} transposed they were slower in most cases (0.63x
   * at {@code [8, 384] x [384, 512]^T}) but faster for narrow outputs over short sums ({@code k <= 64},
   * {@code n <= 128}: 1.01-1.74x in all 36 such shapes, median 1.3x; an attention head's scores
   * {@code q k^T} and its {@code dY v^T}), so only those of the transposed go to a kernel. Kernels
   * are used up to {@link #MAX_WORK}.
   */
  static boolean worthIt(boolean transB, int m, int n, int k) {
    if (k <= 0 || (long) m * n * k > MAX_WORK) {
      return false;
    }
    return transB ? k <= 64 && n <= 128 : !(k <= 64 && (long) m * n >= 65_536);
  }

  private static synchronized Kernel create(Key key) {
    Kernel made = KERNELS.get(key);
    if (made != null) {
      return made;
    }
    if (KERNELS.size() >= MAX_KERNELS) {
      return NONE; // not remembered: the map stays bounded
    }
    PointerPointer<Pointer> out = new PointerPointer<>(1);
    int status = mkl_rt.mkl_cblas_jit_create_sgemm(
        out, mkl_rt.MKL_ROW_MAJOR, key.transA() ? mkl_rt.MKL_TRANS : mkl_rt.MKL_NOTRANS, key.transB() ? mkl_rt.MKL_TRANS : mkl_rt.MKL_NOTRANS,
        key.m(), key.n(), key.k(), key.alpha(), key.lda(), key.ldb(), key.beta(), key.ldc());
    Pointer jitter = out.get(0);
    if (status == mkl_rt.MKL_JIT_SUCCESS && jitter != null && !jitter.isNull()) {
      made = new Kernel(new Pointer(jitter), mkl_rt.mkl_jit_get_sgemm_ptr(jitter));
    } else {
      if (jitter != null && !jitter.isNull()) {
        mkl_rt.mkl_jit_destroy(jitter); // MKL_NO_JIT: a jitter that would only call the standard gemm
      }
      made = NONE;
    }
    KERNELS.put(key, made);
    return made;
  }
}
