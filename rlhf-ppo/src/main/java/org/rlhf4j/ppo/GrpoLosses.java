package org.rlhf4j.ppo;

/**
 * The critic-free policy loss of GRPO (Shao et al. 2024) over response tokens ({@code [B][N]} rows,
 * {@code length[b]} real tokens each): PPO's clipped surrogate ({@link PpoLosses#policy}) plus
 * {@code beta} times the k3 estimate of KL(policy || reference) per token, {@code exp(q - p) - (q -
 * p) - 1} with {@code p = logp}, {@code q = logRef}; both averaged over all real tokens. A pure
 * function; with {@code beta = 0} it is the loss of RLOO with the KL in the reward.
 */
public final class GrpoLosses {
  private GrpoLosses() {}

  /**
   * The loss and its gradient.
   *
   * @param loss surrogate + beta * KL term
   * @param gradLogProbs {@code dL/d logp} per token
   * @param policyLoss the clipped surrogate alone
   * @param kl the mean k3 estimate of KL(policy || reference) over real tokens (computed for any beta)
   * @param surrogate the surrogate's statistics (clip fraction, approx-KL, ratio)
   */
  public record Loss(double loss, double[][] gradLogProbs, double policyLoss, double kl, PpoLosses.PolicyLoss surrogate) {}

  /**
   * GRPO's loss of new log-probs {@code logp} against the rollout's {@code logpOld} and the
   * reference's {@code logRef}, with per-token advantages (the sequence's advantage repeated).
   */
  public static Loss policy(
      double[][] logp, double[][] logpOld, double[][] logRef, double[][] advantages, int[] length, double clip, double beta) {
    PpoLosses.PolicyLoss pl = PpoLosses.policy(logp, logpOld, advantages, length, clip);
    long n = PpoLosses.count(length);
    double kl = 0;
    double[][] grad = new double[logp.length][];
    for (int i = 0; i < logp.length; i++) {
      grad[i] = pl.gradLogProbs()[i].clone();
      for (int t = 0; t < length[i]; t++) {
        double rawD = logRef[i][t] - logp[i][t]; // q - p
        double d = Math.max(-KlEstimator.LOG_RATIO_CLAMP, Math.min(KlEstimator.LOG_RATIO_CLAMP, rawD));
        double k3 = Math.expm1(d) - d;
        kl += k3;
        if (beta != 0 && d == rawD) { // no gradient through a clamped log-ratio
          grad[i][t] += beta * (1 - Math.exp(d)) / n; // d k3 / d logp = -(e^d - 1)
        }
      }
    }
    kl /= n;
    return new Loss(pl.loss() + beta * kl, grad, pl.loss(), kl, pl);
  }

  /** The per-token advantages {@code [B][N]} of sequence advantages {@code adv[b]}, over real tokens. */
  public static double[][] broadcast(double[] adv, int[] length, int width) {
    double[][] out = new double[adv.length][width];
    for (int i = 0; i < adv.length; i++) {
      for (int t = 0; t < length[i]; t++) {
        out[i][t] = adv[i];
      }
    }
    return out;
  }
}
