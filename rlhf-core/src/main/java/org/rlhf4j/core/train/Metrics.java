package org.rlhf4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableMap;
import java.util.Map;
import java.util.OptionalDouble;

/**
 * Named numbers reported by a trainer at one step, in insertion order, e.g. {@code loss},
 * {@code objective/kl}. Names follow TRL's where TRL has one. Immutable.
 *
 * @param phase the trainer that reported them: {@code sft}, {@code reward}, {@code ppo}, ...
 * @param step the trainer's step (1-based)
 * @param values the metrics
 */
public record Metrics(String phase, long step, ImmutableMap<String, Double> values) {
  public Metrics {
    checkArgument(phase != null && !phase.isBlank(), "phase must be set");
  }

  /** Metrics from a map (copied, order kept). */
  public static Metrics of(String phase, long step, Map<String, Double> values) {
    return new Metrics(phase, step, ImmutableMap.copyOf(values));
  }

  /** The value of {@code name}, if reported. */
  public OptionalDouble get(String name) {
    Double v = values.get(name);
    return v == null ? OptionalDouble.empty() : OptionalDouble.of(v);
  }

  /** The value of {@code name}; fails if absent. */
  public double value(String name) {
    Double v = values.get(name);
    checkArgument(v != null, "metric %s was not reported (have %s)", name, values.keySet());
    return v;
  }
}
