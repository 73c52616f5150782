package org.rlhf4j.ppo;

/**
 * Per-token estimators of KL(policy || reference) from the log-probabilities of the sampled token
 * under the policy ({@code logp}) and the reference ({@code logq}); see Schulman, "Approximating KL
 * divergence" (2020). {@link #FULL} is the exact KL over the vocabulary, computed from both
 * models' full next-token distributions.
 */
public enum KlEstimator {
  /** {@code log p - log q}: unbiased, high variance, can be negative (TRL's default). */
  K1,
  /** {@code (log p - log q)^2 / 2}: biased, low variance, non-negative. */
  K2,
  /** {@code (r - 1) - log r} with {@code r = q / p}: unbiased, low variance, non-negative. */
  K3,
  /** {@code |log p - log q|}. */
  ABS,
  /** {@code sum_v p(v) (log p(v) - log q(v))}: exact, needs the full distributions. */
  FULL;

  /** The estimate for one token (not defined for {@link #FULL}). */
  public double perToken(double logp, double logq) {
    double d = logp - logq;
    return switch (this) {
      case K1 -> d;
      case K2 -> 0.5 * d * d;
      case K3 -> Math.expm1(-d) + d;
      case ABS -> Math.abs(d);
      case FULL -> throw new IllegalStateException("the FULL estimator needs both full distributions");
    };
  }
}
