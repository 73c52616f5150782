package org.rlhf4j.ppo;

/**
 * Masked whitening: {@code (x - mean) / sqrt(var + 1e-8)} over the real entries of ragged rows
 * (TRL's {@code masked_whiten}, unbiased variance), optionally adding the mean back. Entries past a
 * row's length are left at 0. A pure function.
 */
public final class Whitening {
  private Whitening() {}

  /** Whitens the first {@code length[b]} entries of each row (a new array; the rest stay 0). */
  public static double[][] whiten(double[][] x, int[] length, boolean shiftMean) {
    double sum = 0;
    long n = 0;
    for (int i = 0; i < x.length; i++) {
      for (int t = 0; t < length[i]; t++) {
        sum += x[i][t];
        n++;
      }
    }
    double[][] out = new double[x.length][];
    if (n == 0) {
      for (int i = 0; i < x.length; i++) {
        out[i] = x[i].clone();
      }
      return out;
    }
    double mean = sum / n;
    double ss = 0;
    for (int i = 0; i < x.length; i++) {
      for (int t = 0; t < length[i]; t++) {
        ss += (x[i][t] - mean) * (x[i][t] - mean);
      }
    }
    double var = n > 1 ? ss / (n - 1) : 0;
    double inv = 1.0 / Math.sqrt(var + 1e-8);
    for (int i = 0; i < x.length; i++) {
      out[i] = new double[x[i].length];
      for (int t = 0; t < length[i]; t++) {
        out[i][t] = (x[i][t] - mean) * inv + (shiftMean ? 0 : mean);
      }
    }
    return out;
  }
}
