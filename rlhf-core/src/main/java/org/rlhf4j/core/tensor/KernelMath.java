package org.rlhf4j.core.tensor;

/**
 * The transcendental functions of the kernels, overloaded by precision: the {@code float} versions
 * are fast polynomial approximations accurate to a few units in the last place of a float (the
 * kernels' float twins call them), the {@code double} versions are exact (the double twins, used for
 * gradient checks, call them).
 */
public final class KernelMath {
  private static final float EXP_HI = 88.3762626647949f;
  private static final float EXP_LO = -87.3365447504019f;
  private static final float LOG2E = 1.44269504088896341f;
  private static final float LN2_HI = 0.693359375f;
  private static final float LN2_LO = -2.12194440e-4f;
  private static final float TANH_CLAMP = 7.90531110763549805f;

  private KernelMath() {}

  /** {@code e^x} within about 2 ulp (Cephes' {@code expf}); 0 below the float range. */
  public static float exp(float x) {
    if (x < EXP_LO) {
      return 0f;
    }
    x = Math.min(x, EXP_HI);
    float fx = (float) Math.floor(x * LOG2E + 0.5f);
    float r = x - fx * LN2_HI - fx * LN2_LO;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1f;
    return y * Float.intBitsToFloat(((int) fx + 127) << 23);
  }

  /** {@code e^x}, exact. */
  public static double exp(double x) {
    return Math.exp(x);
  }

  /** The bits of {@code 1.5 * 2^23}: adding it to a float of magnitude below 2^22 rounds it to an integer in the low bits. */
  private static final int ROUND_BITS = 0x4B400000;
  private static final float ROUND = 12582912f;

  /**
   * Replaces {@code a[0..n)} by {@code e^a} (the approximation of {@link #exp(float)}, within about 2
   * ulp; exactly 0 below about {@code -87.6}, NaN stays NaN), using {@code tmp[0..n)} as scratch.
   *
   * <p>In two passes, so that the JIT vectorises the first: the polynomial on the reduced argument
   * and {@code x log2(e)} rounded to an integer (kept, as float bits, in {@code tmp}) in plain
   * arithmetic, then the scaling by {@code 2^n} through the float's bits (cheap, with no branch). One
   * element at a time, {@link #exp(float)} is about 7 times slower here: its polynomial is one long
   * chain of dependent operations. Pass whole blocks rather than short rows: the vectorised loop only
   * starts paying at a few hundred elements.
   */
  public static void exp(float[] a, float[] tmp, int n) {
    for (int i = 0; i < n; i++) {
      float x = Math.max(EXP_LO - 1f, Math.min(EXP_HI, a[i]));
      float t = x * LOG2E + ROUND; // round(x log2 e) in the low bits
      float fx = t - ROUND;
      float r = x - fx * LN2_HI - fx * LN2_LO;
      float y = 1.9875691500e-4f;
      y = y * r + 1.3981999507e-3f;
      y = y * r + 8.3334519073e-3f;
      y = y * r + 4.1665795894e-2f;
      y = y * r + 1.6666665459e-1f;
      y = y * r + 5.0000001201e-1f;
      a[i] = y * r * r + r + 1f;
      tmp[i] = t;
    }
    for (int i = 0; i < n; i++) {
      // k, the integer part (two's complement), is at least -127 after the clamp, and 2^-127's bits
      // ((k + 127) << 23) are those of +0: the positive polynomial times +0 is exactly 0, with no
      // branch. A NaN of either sign stays NaN whatever k its bits give (the NaN that x86 arithmetic
      // produces, 0 * inf or inf - inf, has its sign bit set).
      int k = Float.floatToRawIntBits(tmp[i]) - ROUND_BITS;
      a[i] = a[i] * Float.intBitsToFloat((k + 127) << 23);
    }
  }

  /** Replaces {@code a[0..n)} by {@code e^a}, exactly ({@code tmp} is not used). */
  public static void exp(double[] a, double[] tmp, int n) {
    for (int i = 0; i < n; i++) {
      a[i] = Math.exp(a[i]);
    }
  }

  /**
   * {@code tanh(x)} within about 3e-7 absolute: a 13/6 rational approximation on the clamped range
   * (the one Eigen uses for float).
   */
  public static float tanh(float x) {
    x = Math.max(-TANH_CLAMP, Math.min(TANH_CLAMP, x));
    float x2 = x * x;
    float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = x2 * p + -8.60467152213735e-11f;
    p = x2 * p + 5.12229709037114e-08f;
    p = x2 * p + 1.48572235717979e-05f;
    p = x2 * p + 6.37261928875436e-04f;
    p = x2 * p + 4.89352455891786e-03f;
    float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = x2 * q + 2.26843463243900e-03f;
    q = x2 * q + 4.89352518554385e-03f;
    return x * p / q;
  }

  /** {@code tanh(x)}, exact. */
  public static double tanh(double x) {
    return Math.tanh(x);
  }

  /**
   * The largest of {@code a[off..off+n)} (n >= 1; NaN if a positive NaN is among them, while a
   * negative NaN may be skipped: callers see it later; +0 above -0), without branches: each float's
   * bits as an integer key whose order is the floats' ({@code key(x) = bits ^ ((bits >> 31) &
   * 0x7fffffff)}: negative floats' magnitude bits reversed), their maximum taken with conditional moves
   * in four independent chains. Comparisons of floats compile to branches, mispredicted on real
   * scores (the rows of a causal block are short and their maxima change often): in a {@code medium}
   * step they took 15.6 of the 44 us of a head's softmax, against about 4 us in a benchmark that fed
   * the same block again and again (whose outcomes the predictor learnt).
   */
  public static float max(float[] a, int off, int n) {
    int k0 = key(a[off]);
    int k1 = k0;
    int k2 = k0;
    int k3 = k0;
    int j = off;
    n += off;
    for (; j + 3 < n; j += 4) {
      k0 = Math.max(k0, key(a[j]));
      k1 = Math.max(k1, key(a[j + 1]));
      k2 = Math.max(k2, key(a[j + 2]));
      k3 = Math.max(k3, key(a[j + 3]));
    }
    for (; j < n; j++) {
      k0 = Math.max(k0, key(a[j]));
    }
    return fromKey(Math.max(Math.max(k0, k1), Math.max(k2, k3)));
  }

  /** An integer that orders as {@code x} does (an involution on the bits: {@link #fromKey} undoes it). */
  private static int key(float x) {
    int bits = Float.floatToRawIntBits(x);
    return bits ^ ((bits >> 31) & 0x7fffffff);
  }

  private static float fromKey(int k) {
    return Float.intBitsToFloat(k ^ ((k >> 31) & 0x7fffffff));
  }

  /** {@link #max(float[], int, int)} for doubles (keys of 64 bits). */
  public static double max(double[] a, int off, int n) {
    long k0 = key(a[off]);
    long k1 = k0;
    long k2 = k0;
    long k3 = k0;
    int j = off;
    n += off;
    for (; j + 3 < n; j += 4) {
      k0 = Math.max(k0, key(a[j]));
      k1 = Math.max(k1, key(a[j + 1]));
      k2 = Math.max(k2, key(a[j + 2]));
      k3 = Math.max(k3, key(a[j + 3]));
    }
    for (; j < n; j++) {
      k0 = Math.max(k0, key(a[j]));
    }
    return fromKey(Math.max(Math.max(k0, k1), Math.max(k2, k3)));
  }

  private static long key(double x) {
    long bits = Double.doubleToRawLongBits(x);
    return bits ^ ((bits >> 63) & 0x7fffffffffffffffL);
  }

  private static double fromKey(long k) {
    return Double.longBitsToDouble(k ^ ((k >> 63) & 0x7fffffffffffffffL));
  }
}
