package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The KL coefficient beta: fixed, or adapted towards a target KL (Ziegler et al. 2019): {@code err =
 * clip(KL / target - 1, -0.2, 0.2)}, {@code beta <- beta * (1 + err * n / horizon)} where {@code n}
 * is the number of episodes in the batch. Mutable: {@link #update} after every PPO step. A NaN or
 * infinite KL leaves beta unchanged (logged), so beta is always finite and non-negative.
 */
public final class KlController {
  private static final Logger LOG = LoggerFactory.getLogger(KlController.class);
  private final boolean adaptive;
  private final double target;
  private final double horizon;
  private double beta;

  private KlController(double beta, boolean adaptive, double target, double horizon) {
    checkArgument(beta >= 0 && Double.isFinite(beta), "beta must be >= 0, got %s", beta);
    this.beta = beta;
    this.adaptive = adaptive;
    this.target = target;
    this.horizon = horizon;
  }

  /** A constant beta. */
  public static KlController fixed(double beta) {
    return new KlController(beta, false, 0, 0);
  }

  /** An adaptive beta starting at {@code initBeta}, steering the KL towards {@code target}. */
  public static KlController adaptive(double initBeta, double target, double horizon) {
    checkArgument(target > 0, "target KL must be positive, got %s", target);
    checkArgument(horizon > 0, "horizon must be positive, got %s", horizon);
    return new KlController(initBeta, true, target, horizon);
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
    double next = nextBeta(beta, kl, target, episodes, horizon);
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
