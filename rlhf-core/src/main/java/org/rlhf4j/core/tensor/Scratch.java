package org.rlhf4j.core.tensor;

/**
 * Per-thread scratch arrays for the kernels: a kernel copies a row or chunk of a tensor into a heap
 * array with one bulk copy, computes on the array (which the JIT vectorises, unlike element-wise
 * buffer access) and copies the result back. Slots are independent arrays that grow as needed.
 */
final class Scratch {
  private static final int SLOTS = 12;
  private static final ThreadLocal<float[][]> FLOATS = ThreadLocal.withInitial(() -> new float[SLOTS][0]);
  private static final ThreadLocal<double[][]> DOUBLES = ThreadLocal.withInitial(() -> new double[SLOTS][0]);

  private Scratch() {}

  private static final ThreadLocal<Tensor[]> NATIVE = ThreadLocal.withInitial(() -> new Tensor[2]);

  /** This thread's native FLOAT vector of at least {@code n} elements, for BLAS calls (contents undefined). */
  static Tensor tensorFloat(int n) {
    return nativeVector(0, org.nd4j.linalg.api.buffer.DataType.FLOAT, n);
  }

  /** This thread's native DOUBLE vector of at least {@code n} elements, for BLAS calls (contents undefined). */
  static Tensor tensorDouble(int n) {
    return nativeVector(1, org.nd4j.linalg.api.buffer.DataType.DOUBLE, n);
  }

  private static Tensor nativeVector(int slot, org.nd4j.linalg.api.buffer.DataType type, int n) {
    Tensor[] s = NATIVE.get();
    if (s[slot] == null || s[slot].length() < n) {
      int size = Math.max(n, s[slot] == null ? 256 : 2 * s[slot].length());
      s[slot] = Tensor.of(org.nd4j.linalg.factory.Nd4j.create(type, size));
    }
    return s[slot];
  }

  /** This thread's float array in {@code slot} with at least {@code n} elements (contents undefined). */
  static float[] arrayFloat(int slot, int n) {
    float[][] s = FLOATS.get();
    if (s[slot].length < n) {
      s[slot] = new float[Math.max(n, 2 * s[slot].length)];
    }
    return s[slot];
  }

  /** This thread's double array in {@code slot} with at least {@code n} elements (contents undefined). */
  static double[] arrayDouble(int slot, int n) {
    double[][] s = DOUBLES.get();
    if (s[slot].length < n) {
      s[slot] = new double[Math.max(n, 2 * s[slot].length)];
    }
    return s[slot];
  }
}
