package org.rlhf4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stops training when a metric has not improved for {@code patience} reports in a row, e.g. {@code
 * EarlyStopping.minimize("eval/loss", 3)} or {@code EarlyStopping.maximize("objective/scores", 10)}.
 * Watches step and evaluation metrics of any phase that report the metric; an improvement is a
 * change beyond {@code minDelta} in the right direction from the best value so far. Non-finite
 * values count as no improvement. Not thread-safe (listeners run on the training thread).
 */
public final class EarlyStopping implements TrainingListener {
  private static final Logger LOG = LoggerFactory.getLogger(EarlyStopping.class);

  private final String metric;
  private final boolean maximize;
  private final int patience;
  private final double minDelta;
  private double best = Double.NaN;
  private int bad;
  private long stoppedAt = -1;

  private EarlyStopping(String metric, boolean maximize, int patience, double minDelta) {
    this.metric = checkNotNull(metric, "metric");
    checkArgument(patience >= 1, "patience must be >= 1, got %s", patience);
    checkArgument(minDelta >= 0 && Double.isFinite(minDelta), "minDelta must be >= 0, got %s", minDelta);
    this.maximize = maximize;
    this.patience = patience;
    this.minDelta = minDelta;
  }

  /** Stops when {@code metric} has not fallen for {@code patience} reports. */
  public static EarlyStopping minimize(String metric, int patience) {
    return new EarlyStopping(metric, false, patience, 0);
  }

  /** Stops when {@code metric} has not risen for {@code patience} reports. */
  public static EarlyStopping maximize(String metric, int patience) {
    return new EarlyStopping(metric, true, patience, 0);
  }

  /** This rule, counting only changes larger than {@code delta} as improvements. */
  public EarlyStopping withMinDelta(double delta) {
    return new EarlyStopping(metric, maximize, patience, delta);
  }

  @Override
  public void onStart(String phase, long totalSteps) {
    best = Double.NaN;
    bad = 0;
    stoppedAt = -1;
  }

  @Override
  public void onStep(Metrics m) {
    observe(m);
  }

  @Override
  public void onEvaluation(Metrics m) {
    observe(m);
  }

  private void observe(Metrics m) {
    Double v = m.values().get(metric);
    if (v == null || stoppedAt >= 0) {
      return;
    }
    boolean improved = Double.isFinite(v)
        && (Double.isNaN(best) || (maximize ? v > best + minDelta : v < best - minDelta));
    if (improved) {
      best = v;
      bad = 0;
    } else if (++bad >= patience) {
      stoppedAt = m.step();
      LOG.info("{}: stopping at step {}: {} has not {} for {} reports (best {})",
          m.phase(), m.step(), metric, maximize ? "risen" : "fallen", patience, best);
    }
  }

  @Override
  public boolean stopRequested() {
    return stoppedAt >= 0;
  }

  /** The best value seen (NaN before the first). */
  public double best() {
    return best;
  }

  /** The step at which it asked to stop, or -1. */
  public long stoppedAt() {
    return stoppedAt;
  }
}
