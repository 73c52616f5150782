package org.rlhf4j.ppo;

/**
 * Per-token estimators of KL(policy || reference) from the log-probabilities of the sampled token
 * under the policy ({@code logp}) and the reference ({@code logq}); see Schulman, "Approximating KL
 * divergence" (2020). {@link #FULL} is the exact KL over the vocabulary, computed from both
 * models' full next-token distributions.
 *
 * <p>As in OpenRLHF, the log-ratio {@code log p - log q} is clamped to {@code [-20, 20]} before an
 * estimator is applied, and every per-token estimate (the exact one included) to {@code [-10, 10]},
 * so that one token cannot dominate the rewards or overflow (at {@code log p - log q = -30}, k3
 * would be about 1e13).
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

  /** The bound of the log-ratio fed to an estimator (OpenRLHF's). */
  public static final double LOG_RATIO_CLAMP = 20.0;

  /** The bound of every per-token estimate (OpenRLHF's). */
  public static final double ESTIMATE_CLAMP = 10.0;

  /** The clamped estimate for one token (not defined for {@link #FULL}). */
  public double perToken(double logp, double logq) {
    return clampEstimate(unclamped(logp, logq));
  }

  /** {@code v} clamped to {@code [-ESTIMATE_CLAMP, ESTIMATE_CLAMP]} (NaN stays NaN). */
  public static double clampEstimate(double v) {
    return Math.max(-ESTIMATE_CLAMP, Math.min(ESTIMATE_CLAMP, v));
  }

  /** Whether {@link #perToken} clamps the estimate of this token (the log-ratio clamp or the estimate clamp is active). */
  public boolean isClamped(double logp, double logq) {
    double d = logp - logq;
    return Math.abs(d) > LOG_RATIO_CLAMP || Math.abs(unclamped(logp, logq)) > ESTIMATE_CLAMP;
  }

  private double unclamped(double logp, double logq) {
    double d = Math.max(-LOG_RATIO_CLAMP, Math.min(LOG_RATIO_CLAMP, logp - logq));
    return switch (this) {
      case K1 -> d;
      case K2 -> 0.5 * d * d;
      case K3 -> Math.expm1(-d) + d;
      case ABS -> Math.abs(d);
      case FULL -> throw new IllegalStateException("the FULL estimator needs both full distributions");
    };
  }
}
