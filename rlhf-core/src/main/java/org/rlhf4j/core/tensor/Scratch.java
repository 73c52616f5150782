package org.rlhf4j.core.tensor;

/**
 * Per-thread scratch arrays for the kernels: a kernel copies a row or chunk of a tensor into a heap
 * array with one bulk copy, computes on the array (which the JIT vectorises, unlike element-wise
 * buffer access) and copies the result back. Slots are independent arrays that grow as needed.
 */
final class Scratch {
  private static final int SLOTS = 8;
  private static final ThreadLocal<float[][]> FLOATS = ThreadLocal.withInitial(() -> new float[SLOTS][0]);
  private static final ThreadLocal<double[][]> DOUBLES = ThreadLocal.withInitial(() -> new double[SLOTS][0]);

  private Scratch() {}

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
