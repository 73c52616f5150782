package org.rlhf4j.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * rlhf4j's handling of Intel MKL's threads. Like {@link MklJitTest}, it runs in a JVM of its own with
 * {@code -Drlhf4j.blas=mkl} (the {@code mkl} execution of the surefire plugin in this module's POM),
 * so that it runs on every x86-64 Linux machine, AMD ones included, where rlhf4j would otherwise load
 * OpenBLAS; it is skipped, saying why, only where MKL cannot be loaded at all.
 */
class MklBackendTest {

  private static void requireMkl() {
    Blas.validation(); // loads the BLAS
    Assumptions.assumeTrue(CpuBackend.mklLoaded(), "MKL could not be loaded here: " + Blas.validation());
  }

  private static Tensor aligned(long length) {
    INDArray buf = Nd4j.create(DataType.FLOAT, Tensor.alignedLength(DataType.FLOAT, length));
    return Tensor.of(Tensor.alignedView(buf, length));
  }

  /**
   * With MKL, every thread that computes products runs MKL on itself alone, whatever thread count
   * ND4J or the environment set: rlhf4j runs products on its own threads.
   */
  @Test
  void mklComputesOnTheCallingThreadOnly() throws Exception {
    requireMkl();
    Tensor a = aligned(64 * 64).reshape(64, 64);
    Tensor c = aligned(64 * 64).reshape(64, 64);
    Blas.gemm(a, a, c, false, false);
    assertEquals(1, CpuBackend.mklMaxThreadsHere(), "this thread");
    int[] other = new int[1];
    Thread t = new Thread(() -> {
      Blas.gemm(a, a, c, false, false);
      other[0] = CpuBackend.mklMaxThreadsHere();
    });
    t.start();
    t.join();
    assertEquals(1, other[0], "a new thread");
  }

  /**
   * {@link CpuBackend#withBlasThreads} (the benchmark's best GEMM rate on the BLAS's own threads) gives
   * the products of its body that many MKL threads, and sets the calling thread back to one after it,
   * also when the body fails.
   */
  @Test
  void blasThreadsOfAMeasurementAreSetBack() {
    assertThrows(IllegalArgumentException.class, () -> CpuBackend.withBlasThreads(0, () -> {}));
    requireMkl();
    Tensor a = aligned(64 * 64).reshape(64, 64);
    Tensor c = aligned(64 * 64).reshape(64, 64);
    int[] inside = new int[1];
    assertTrue(CpuBackend.withBlasThreads(2, () -> {
      Blas.gemm(a, a, c, false, false);
      inside[0] = CpuBackend.mklMaxThreadsHere();
    }));
    assertEquals(2, inside[0], "inside");
    assertEquals(1, CpuBackend.mklMaxThreadsHere(), "after");
    assertThrows(IllegalStateException.class, () -> CpuBackend.withBlasThreads(3, () -> {
      throw new IllegalStateException("fails");
    }));
    assertEquals(1, CpuBackend.mklMaxThreadsHere(), "after a failure");
  }
}
