package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The KL coefficient beta: fixed, or adapted towards a target KL (Ziegler et al. 2019): {@code err =
 * clip(KL / target - 1, -0.2, 0.2)}, {@code beta <- max(minBeta, beta * (1 + err * n / horizon))}
 * where {@code n} is the number of episodes in the batch. Mutable: {@link #update} after every PPO
 * step. A NaN or infinite KL leaves beta unchanged (logged), so beta is always finite and
 * non-negative.
 *
 * <p>The floor {@code minBeta} (default 0: Ziegler's controller) is an anti-windup for short runs:
 * at the start the policy has not moved yet, so the KL is under target whatever beta is, and the
 * unbounded controller keeps lowering beta (by up to {@code 0.2 n / horizon} per step); when the KL
 * finally reaches the target beta is far too small and climbs back only as fast, so the KL
 * overshoots. Start at {@link #equilibriumBeta} and use it as the floor to avoid that.
 */
public final class KlController {
  private static final Logger LOG = LoggerFactory.getLogger(KlController.class);
  private final boolean adaptive;
  private final double target;
  private final double horizon;
  private final double minBeta;
  private double beta;

  private KlController(double beta, boolean adaptive, double target, double horizon, double minBeta) {
    checkArgument(beta >= 0 && Double.isFinite(beta), "beta must be >= 0, got %s", beta);
    checkArgument(minBeta >= 0 && minBeta <= beta, "minBeta must be in [0, initial beta %s], got %s", beta, minBeta);
    this.beta = beta;
    this.adaptive = adaptive;
    this.target = target;
    this.horizon = horizon;
    this.minBeta = minBeta;
  }

  /** A constant beta. */
  public static KlController fixed(double beta) {
    return new KlController(beta, false, 0, 0, 0);
  }

  /** An adaptive beta starting at {@code initBeta}, steering the KL towards {@code target}. */
  public static KlController adaptive(double initBeta, double target, double horizon) {
    return adaptive(initBeta, target, horizon, 0);
  }

  /**
   * An adaptive beta starting at {@code initBeta}, steering the KL towards {@code target}, never
   * lowered below {@code minBeta} ({@code 0 <= minBeta <= initBeta}).
   */
  public static KlController adaptive(double initBeta, double target, double horizon, double minBeta) {
    checkArgument(target > 0 && Double.isFinite(target), "target KL must be positive, got %s", target);
    checkArgument(horizon > 0 && Double.isFinite(horizon), "horizon must be positive, got %s", horizon);
    checkArgument(minBeta >= 0 && Double.isFinite(minBeta), "minBeta must be >= 0, got %s", minBeta);
    return new KlController(initBeta, true, target, horizon, minBeta);
  }

  /**
   * The beta at which the KL-regularised optimum {@code pi(y) ~ ref(y) exp(score(y) / beta)} is
   * {@code targetKl} nats from the reference when the scores of the reference's samples are normal
   * with standard deviation {@code scoreStd}: the tilted distribution is then the same normal shifted
   * by {@code scoreStd^2 / beta}, whose KL is {@code scoreStd^2 / (2 beta^2)}, so {@code beta =
   * scoreStd / sqrt(2 targetKl)}. A starting point on the scale of the rewards (0.29 for scores
   * normalised to standard deviation 1 and a target of 6 nats, where a fixed default such as 0.05 or
   * 0.1 would leave the KL unbounded by anything but the number of steps).
   */
  public static double equilibriumBeta(double scoreStd, double targetKl) {
    checkArgument(scoreStd > 0 && Double.isFinite(scoreStd), "scoreStd must be positive and finite, got %s", scoreStd);
    checkArgument(targetKl > 0 && Double.isFinite(targetKl), "targetKl must be positive and finite, got %s", targetKl);
    return scoreStd / Math.sqrt(2 * targetKl);
  }

  /** The floor of an adaptive beta (0 for Ziegler's controller and for a fixed beta). */
  public double minBeta() {
    return minBeta;
  }

  /** The current coefficient. */
  public double beta() {
    return beta;
  }

  /** Whether beta adapts. */
  public boolean isAdaptive() {
    return adaptive;
  }

  /** Restores beta (checkpoint resume). */
  public void restore(double value) {
    checkArgument(value >= 0 && Double.isFinite(value), "beta must be >= 0, got %s", value);
    this.beta = value;
  }

  /**
   * Adapts beta after a batch of {@code episodes} whose measured KL was {@code kl}; a non-finite
   * {@code kl} is ignored (beta unchanged).
   *
   * @return whether beta was updated (false for a fixed controller or a non-finite KL)
   */
  public boolean update(double kl, int episodes) {
    checkArgument(episodes >= 0, "episodes must be >= 0, got %s", episodes);
    if (!adaptive) {
      return false;
    }
    if (!Double.isFinite(kl)) {
      LOG.warn("KL controller: ignoring a non-finite KL ({}); beta stays {}", kl, beta);
      return false;
    }
    double next = Math.max(minBeta, nextBeta(beta, kl, target, episodes, horizon));
    if (!(Double.isFinite(next) && next >= 0)) {
      LOG.warn("KL controller: the update from KL {} over {} episodes gives beta {}; beta stays {}", kl, episodes, next, beta);
      return false;
    }
    beta = next;
    return true;
  }

  /** Ziegler et al.'s update as a pure function. */
  public static double nextBeta(double beta, double kl, double target, int episodes, double horizon) {
    double err = Math.max(-0.2, Math.min(0.2, kl / target - 1));
    return beta * (1 + err * episodes / horizon);
  }
}
