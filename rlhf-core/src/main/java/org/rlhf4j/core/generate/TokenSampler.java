package org.rlhf4j.core.generate;

import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * Picks the next token from one row of logits: temperature, then top-k, then top-p over the
 * renormalised survivors (Hugging Face's order), or greedy. Reports the chosen token's log-probability
 * under the temperature-scaled, unfiltered distribution, the one PPO's ratios use. Reuses its scratch
 * arrays; one instance per thread.
 */
final class TokenSampler {
  private final SamplingConfig cfg;
  private final double[] z;
  private final double[] p;
  private final long[] order;

  /** The chosen token and its log-probability. */
  record Choice(int token, double logProb) {}

  TokenSampler(SamplingConfig cfg, int vocab) {
    this.cfg = cfg;
    this.z = new double[vocab];
    this.p = new double[vocab];
    this.order = new long[vocab];
  }

  /** The scratch row into which the caller copies the raw logits before {@link #choose}. */
  double[] logitsRow() {
    return z;
  }

  Choice choose(RandomGenerator rng) {
    int v = z.length;
    double inv = 1.0 / cfg.temperature();
    double max = Double.NEGATIVE_INFINITY;
    int argmax = 0;
    for (int j = 0; j < v; j++) {
      z[j] *= inv;
      if (z[j] > max) {
        max = z[j];
        argmax = j;
      }
    }
    double sum = 0;
    for (int j = 0; j < v; j++) {
      p[j] = Math.exp(z[j] - max);
      sum += p[j];
    }
    double logZ = max + Math.log(sum);
    if (cfg.greedy()) {
      return new Choice(argmax, z[argmax] - logZ);
    }
    int token = cfg.topK() == 0 && cfg.topP() >= 1.0 ? sampleAll(sum, rng) : sampleFiltered(sum, rng);
    return new Choice(token, z[token] - logZ);
  }

  private int sampleAll(double sum, RandomGenerator rng) {
    double u = rng.nextDouble() * sum;
    int last = 0;
    for (int j = 0; j < p.length; j++) {
      if (p[j] > 0) {
        last = j;
        u -= p[j];
        if (u < 0) {
          return j;
        }
      }
    }
    return last;
  }

  private int sampleFiltered(double sum, RandomGenerator rng) {
    int v = z.length;
    // Tokens whose probability is below (1 - topP) / V together hold less than 1 - topP of the mass,
    // so (without top-k) they can never be in the nucleus: skip them before sorting.
    double floor = cfg.topK() == 0 ? (1.0 - cfg.topP()) / v * sum : 0;
    int n = 0;
    for (int j = 0; j < v; j++) {
      if (p[j] > 0 && p[j] >= floor) {
        // sort key: probability bits (positive doubles order like their bits), index in the low bits
        long bits = Float.floatToIntBits((float) p[j]);
        order[n++] = (bits << 32) | (v - 1 - j);
      }
    }
    Arrays.sort(order, 0, n);
    int keep = cfg.topK() > 0 ? Math.min(cfg.topK(), n) : n;
    double kept = 0;
    for (int i = 0; i < keep; i++) {
      kept += p[index(n - 1 - i)];
    }
    if (cfg.topP() < 1.0) {
      double cum = 0;
      int nucleus = 0;
      while (nucleus < keep) {
        cum += p[index(n - 1 - nucleus)];
        nucleus++;
        if (cum >= cfg.topP() * kept) {
          break;
        }
      }
      keep = nucleus;
      kept = cum;
    }
    double u = rng.nextDouble() * kept;
    for (int i = 0; i < keep; i++) {
      int j = index(n - 1 - i);
      u -= p[j];
      if (u < 0) {
        return j;
      }
    }
    return index(n - keep);
  }

  private int index(int sortedPosition) {
    return z.length - 1 - (int) (order[sortedPosition] & 0xffffffffL);
  }
}
