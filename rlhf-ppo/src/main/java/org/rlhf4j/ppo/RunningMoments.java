package org.rlhf4j.ppo;

/**
 * Running mean and standard deviation of scores across batches (Chan et al.'s parallel update, as
 * in TRL's {@code RunningMoments}), for score scaling. Mutable; part of the trainer's state.
 */
public final class RunningMoments {
  private double mean;
  private double var = 1.0;
  private double count = 1e-24;

  /** Folds in a batch; returns the batch's own mean and (population) standard deviation. */
  public double[] update(double[] xs) {
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
    mean = s[0];
    var = s[1];
    count = s[2];
  }
}
