package org.rlhf4j.ppo;

import com.google.common.collect.ImmutableMap;
import org.rlhf4j.core.train.Metrics;

/**
 * The statistics of one {@link GrpoTrainer} step under TRL's names ({@code objective/kl}, {@code
 * objective/scores}, {@code reward}, {@code reward_std}, {@code loss/policy_avg}, {@code
 * policy/clipfrac_avg}, ...).
 *
 * @param step the step number, from 1
 * @param values the named statistics
 */
public record GrpoStats(long step, ImmutableMap<String, Double> values) {
  /** The statistic {@code name}; an unknown name is an error listing the known ones. */
  public double get(String name) {
    Double v = values.get(name);
    if (v == null) {
      throw new IllegalArgumentException("no statistic " + name + "; known: " + values.keySet());
    }
    return v;
  }

  /** As metrics of phase {@code phase}. */
  public Metrics toMetrics(String phase) {
    return new Metrics(phase, step, values);
  }
}
