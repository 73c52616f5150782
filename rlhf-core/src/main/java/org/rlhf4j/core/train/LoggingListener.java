package org.rlhf4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Logs metrics through SLF4J every {@code every} steps, and every evaluation and summary. */
public final class LoggingListener implements TrainingListener {
  private static final Logger LOG = LoggerFactory.getLogger(LoggingListener.class);
  private final int every;

  /** Logs every {@code every}-th step (at least 1). */
  public LoggingListener(int every) {
    checkArgument(every >= 1, "every must be >= 1, got %s", every);
    this.every = every;
  }

  @Override
  public void onStep(Metrics m) {
    if (m.step() % every == 0) {
      LOG.info("{} step {}: {}", m.phase(), m.step(), format(m.values()));
    }
  }

  @Override
  public void onEvaluation(Metrics m) {
    LOG.info("{} eval at step {}: {}", m.phase(), m.step(), format(m.values()));
  }

  @Override
  public void onEnd(Metrics m) {
    LOG.info("{} done after {} steps: {}", m.phase(), m.step(), format(m.values()));
  }

  /** {@code name=value} pairs with 4 significant digits. */
  public static String format(Map<String, Double> values) {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, Double> e : values.entrySet()) {
      if (sb.length() > 0) {
        sb.append(' ');
      }
      sb.append(e.getKey()).append('=').append(String.format(Locale.ROOT, "%.4g", e.getValue()));
    }
    return sb.toString();
  }
}
