package org.rlhf4j.core.optim;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A learning rate per optimiser step: constant, or a linear warm-up to the peak followed by a linear
 * or cosine decay to {@code minRatio * peak}. Steps count from 1 in this API; the value of step
 * {@code k} is Hugging Face's {@code lr_lambda(k - 1)} ({@code get_constant_schedule_with_warmup},
 * {@code get_linear_schedule_with_warmup}, {@code get_cosine_with_min_lr_schedule_with_warmup}), so
 * a run of {@code totalSteps} steps uses the peak rate at its first post-warm-up step and never
 * spends a step at rate 0 at its end (the decay reaches its floor only at step {@code totalSteps +
 * 1}). As in Hugging Face, the first warm-up step has rate 0. Immutable.
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

  /** The learning rate of step {@code step} (1-based; Hugging Face's schedule at {@code step - 1}). */
  public double lr(long step) {
    checkArgument(step >= 1, "steps count from 1, got %s", step);
    long current = step - 1; // Hugging Face's scheduler counts the steps already taken
    if (current < warmupSteps) {
      return peak * current / Math.max(1.0, warmupSteps);
    }
    if (kind == Kind.CONSTANT) {
      return peak;
    }
    double progress = Math.min(1.0, (double) (current - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
    double factor = kind == Kind.LINEAR ? 1.0 - progress : 0.5 * (1.0 + Math.cos(Math.PI * progress));
    return peak * Math.max(0.0, minRatio + (1 - minRatio) * factor);
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
