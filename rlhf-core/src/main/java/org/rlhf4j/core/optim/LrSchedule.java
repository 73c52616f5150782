package org.rlhf4j.core.optim;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A learning rate per optimiser step (steps count from 1): constant, or a linear warm-up to the peak
 * followed by a linear or cosine decay to {@code minRatio * peak} at {@code totalSteps}. Immutable.
 */
public final class LrSchedule {
  /** The shape of the decay after warm-up. */
  public enum Kind {
    CONSTANT,
    LINEAR,
    COSINE
  }

  private final Kind kind;
  private final double peak;
  private final long warmupSteps;
  private final long totalSteps;
  private final double minRatio;

  private LrSchedule(Kind kind, double peak, long warmupSteps, long totalSteps, double minRatio) {
    checkArgument(peak > 0 && Double.isFinite(peak), "learning rate must be positive and finite, got %s", peak);
    checkArgument(warmupSteps >= 0, "warmupSteps must be >= 0, got %s", warmupSteps);
    checkArgument(kind == Kind.CONSTANT || totalSteps >= 1, "totalSteps must be >= 1, got %s", totalSteps);
    checkArgument(minRatio >= 0 && minRatio <= 1, "minRatio must be in [0, 1], got %s", minRatio);
    this.kind = kind;
    this.peak = peak;
    this.warmupSteps = warmupSteps;
    this.totalSteps = totalSteps;
    this.minRatio = minRatio;
  }

  /** {@code lr} at every step. */
  public static LrSchedule constant(double lr) {
    return new LrSchedule(Kind.CONSTANT, lr, 0, 0, 1);
  }

  /** Linear warm-up over {@code warmupSteps}, then {@code lr} held constant. */
  public static LrSchedule constantWithWarmup(double lr, long warmupSteps) {
    return new LrSchedule(Kind.CONSTANT, lr, warmupSteps, 0, 1);
  }

  /** Linear warm-up, then linear decay to 0 at {@code totalSteps} (Hugging Face's default). */
  public static LrSchedule linear(double peak, long warmupSteps, long totalSteps) {
    return new LrSchedule(Kind.LINEAR, peak, warmupSteps, totalSteps, 0);
  }

  /** Linear warm-up, then cosine decay to {@code minRatio * peak} at {@code totalSteps}. */
  public static LrSchedule cosine(double peak, long warmupSteps, long totalSteps, double minRatio) {
    return new LrSchedule(Kind.COSINE, peak, warmupSteps, totalSteps, minRatio);
  }

  /** The learning rate of step {@code step} (1-based). */
  public double lr(long step) {
    checkArgument(step >= 1, "steps count from 1, got %s", step);
    if (step <= warmupSteps) {
      return peak * step / (warmupSteps + 1.0);
    }
    if (kind == Kind.CONSTANT) {
      return peak;
    }
    double progress = Math.min(1.0, (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
    double factor = kind == Kind.LINEAR ? 1.0 - progress : 0.5 * (1.0 + Math.cos(Math.PI * progress));
    return peak * (minRatio + (1 - minRatio) * factor);
  }

  /** The peak learning rate. */
  public double peak() {
    return peak;
  }

  /** A JSON-friendly description, for checkpoint metadata. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("kind", kind.name().toLowerCase(java.util.Locale.ROOT));
    m.put("peak", peak);
    m.put("warmup_steps", warmupSteps);
    m.put("total_steps", totalSteps);
    m.put("min_ratio", minRatio);
    return m;
  }

  @Override
  public String toString() {
    return "LrSchedule" + toMap();
  }
}
