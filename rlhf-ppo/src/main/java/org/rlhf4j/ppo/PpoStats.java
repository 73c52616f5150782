package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import org.rlhf4j.core.train.Metrics;

/**
 * The statistics of one PPO step, with TRL's names: {@code objective/kl}, {@code
 * objective/entropy}, {@code objective/non_score_reward}, {@code objective/rlhf_reward}, {@code
 * objective/scores}, {@code policy/approxkl_avg}, {@code policy/clipfrac_avg}, {@code
 * policy/entropy_avg}, {@code loss/policy_avg}, {@code loss/value_avg}, {@code val/clipfrac_avg},
 * {@code val/ratio}, {@code val/num_eos_tokens}, TRL's {@code val/var_explained} (of the values the rollout
 * recorded), {@code lr}, {@code episode}, plus {@code
 * objective/kl_coef}, {@code time/rollout}, {@code time/scoring}, {@code time/training} (seconds)
 * and {@code time/tokens_per_second}; TRL's {@code policy/policykl}; and the safeguards' counters
 * {@code objective/scores_nonfinite}, {@code objective/kl_clamped_tokens}, {@code
 * policy/skipped_ratio}, {@code policy/skipped_bounds}, {@code skipped_updates}, {@code
 * early_stopped} and {@code warnings}; and the step's sampled {@link #completions()} as text
 * with their scores. Immutable.
 */
public record PpoStats(long step, ImmutableMap<String, Double> values, ImmutableList<ScoredCompletion> completions) {

  /** Checks the components. */
  public PpoStats {
    checkNotNull(values, "values");
    checkNotNull(completions, "completions");
  }

  /** Statistics without completions. */
  public PpoStats(long step, ImmutableMap<String, Double> values) {
    this(step, values, ImmutableList.of());
  }

  /** The statistic {@code name}; fails if it was not reported. */
  public double get(String name) {
    Double v = values.get(name);
    if (v == null) {
      throw new IllegalArgumentException("no statistic " + name + " (have " + values.keySet() + ")");
    }
    return v;
  }

  /** {@code objective/scores}: the mean reward-model score of the batch. */
  public double meanScore() {
    return get("objective/scores");
  }

  /** {@code objective/kl}: the mean summed KL to the reference per response. */
  public double kl() {
    return get("objective/kl");
  }

  /** As listener metrics. */
  public Metrics toMetrics() {
    return new Metrics(PpoTrainer.PHASE, step, values);
  }
}
