package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * Running mean and standard deviation of scores across batches (Chan et al.'s parallel update, as
 * in TRL's {@code RunningMoments}), for score scaling. Mutable; part of the trainer's state. Only
 * finite values are accepted, so the moments are always finite.
 */
public final class RunningMoments {
  private double mean;
  private double var = 1.0;
  private double count = 1e-24;

  /** Folds in a batch; returns the batch's own mean and (population) standard deviation. */
  public double[] update(double[] xs) {
    checkArgument(xs.length > 0, "no values");
    for (int i = 0; i < xs.length; i++) {
      if (!Double.isFinite(xs[i])) {
        throw new IllegalArgumentException("value " + i + " of the batch is " + xs[i] + ": running moments take finite values only");
      }
    }
    double bMean = 0;
    for (double x : xs) {
      bMean += x / xs.length;
    }
    double bVar = 0;
    for (double x : xs) {
      bVar += (x - bMean) * (x - bMean) / xs.length;
    }
    double total = count + xs.length;
    double delta = bMean - mean;
    double m2 = var * count + bVar * xs.length + delta * delta * count * xs.length / total;
    mean += delta * xs.length / total;
    var = m2 / total;
    count = total;
    return new double[] {bMean, Math.sqrt(bVar)};
  }

  /** The running mean. */
  public double mean() {
    return mean;
  }

  /** The running standard deviation (unbiased, like TRL). */
  public double std() {
    return Math.sqrt(var * count / Math.max(count - 1, 1e-24));
  }

  /** The state {@code [mean, var, count]} for checkpoints. */
  public double[] state() {
    return new double[] {mean, var, count};
  }

  /** Restores {@link #state()}. */
  public void restore(double[] s) {
    checkArgument(s.length == 3, "expected [mean, var, count], got %s values", s.length);
    checkArgument(
        Double.isFinite(s[0]) && Double.isFinite(s[1]) && s[1] >= 0 && Double.isFinite(s[2]) && s[2] > 0,
        "running moments must be finite with var >= 0 and count > 0, got [%s, %s, %s]",
        s[0],
        s[1],
        s[2]);
    mean = s[0];
    var = s[1];
    count = s[2];
  }
}
