package org.rlhf4j.ppo;

/**
 * PPO's losses over the response tokens of a minibatch ({@code [B][N]} rows, {@code length[b]} real
 * tokens each), with their gradients, following TRL's {@code PPOTrainer}. Pure functions.
 */
public final class PpoLosses {
  private PpoLosses() {}

  /**
   * The clipped surrogate objective (Schulman et al. 2017) as a loss, {@code mean(max(-A r, -A
   * clip(r, 1-eps, 1+eps)))} with {@code r = exp(clamp(logp - logpOld, -20, 20))} (OpenRLHF's
   * bound of the log-ratio: no gradient flows through a clamped token).
   *
   * @param loss the masked mean
   * @param gradLogProbs {@code dL/d logp} per token
   * @param clipFraction the fraction of tokens where the clipped term is larger
   * @param approxKl {@code mean((logp - logpOld)^2) / 2}
   * @param meanRatio the mean ratio
   * @param policyKl TRL's {@code policykl}, {@code mean(logpOld - logp)} (the early-stopping statistic)
   */
  public record PolicyLoss(double loss, double[][] gradLogProbs, double clipFraction, double approxKl, double meanRatio, double policyKl) {}

  /**
   * The clipped policy loss of new log-probabilities {@code logp} against the rollout's {@code
   * logpOld}, with advantages, over the first {@code length[b]} tokens of each row.
   */
  public static PolicyLoss policy(double[][] logp, double[][] logpOld, double[][] advantages, int[] length, double clip) {
    long n = count(length);
    double loss = 0;
    double clipped = 0;
    double kl = 0;
    double ratioSum = 0;
    double policyKl = 0;
    double[][] grad = new double[logp.length][];
    for (int i = 0; i < logp.length; i++) {
      grad[i] = new double[logp[i].length];
      for (int t = 0; t < length[i]; t++) {
        double rawDiff = logp[i][t] - logpOld[i][t];
        double diff = Math.max(-KlEstimator.LOG_RATIO_CLAMP, Math.min(KlEstimator.LOG_RATIO_CLAMP, rawDiff));
        boolean bounded = diff == rawDiff || Double.isNaN(rawDiff);
        double ratio = Math.exp(diff);
        double a = advantages[i][t];
        double unclippedLoss = -a * ratio;
        double clippedLoss = -a * Math.max(1 - clip, Math.min(1 + clip, ratio));
        if (clippedLoss > unclippedLoss) {
          loss += clippedLoss; // constant in logp: no gradient
          clipped++;
        } else {
          loss += unclippedLoss;
          grad[i][t] = bounded ? -a * ratio / n : 0; // d(-A exp(logp - logpOld)) / d logp
        }
        kl += 0.5 * rawDiff * rawDiff;
        policyKl -= rawDiff;
        ratioSum += ratio;
      }
    }
    return new PolicyLoss(loss / n, grad, clipped / n, kl / n, ratioSum / n, policyKl / n);
  }

  /**
   * The clipped value loss {@code 0.5 mean(max((v - R)^2, (vOld + clip(v - vOld, -c, c) - R)^2))}.
   *
   * @param loss the masked mean
   * @param gradValues {@code dL/dv} per token
   * @param clipFraction the fraction of tokens where the clipped term is larger
   */
  public record ValueLoss(double loss, double[][] gradValues, double clipFraction) {}

  /** The clipped value loss of new predictions against the rollout's values and the returns. */
  public static ValueLoss value(double[][] values, double[][] valuesOld, double[][] returns, int[] length, double clip) {
    long n = count(length);
    double loss = 0;
    double clipped = 0;
    double[][] grad = new double[values.length][];
    for (int i = 0; i < values.length; i++) {
      grad[i] = new double[values[i].length];
      for (int t = 0; t < length[i]; t++) {
        double v = values[i][t];
        double r = returns[i][t];
        double vClipped = valuesOld[i][t] + Math.max(-clip, Math.min(clip, v - valuesOld[i][t]));
        double l1 = (v - r) * (v - r);
        double l2 = (vClipped - r) * (vClipped - r);
        if (l2 > l1) {
          loss += 0.5 * l2; // the clip is active: constant in v
          clipped++;
        } else {
          loss += 0.5 * l1;
          grad[i][t] = (v - r) / n;
        }
      }
    }
    return new ValueLoss(loss / n, grad, clipped / n);
  }

  /** The masked mean of {@code x} and its gradient {@code 1/n} per real token. */
  public record Mean(double value, double[][] grad) {}

  /** The mean over real tokens, e.g. of the entropy for the entropy bonus. */
  public static Mean mean(double[][] x, int[] length) {
    long n = count(length);
    double s = 0;
    double[][] grad = new double[x.length][];
    for (int i = 0; i < x.length; i++) {
      grad[i] = new double[x[i].length];
      for (int t = 0; t < length[i]; t++) {
        s += x[i][t];
        grad[i][t] = 1.0 / n;
      }
    }
    return new Mean(s / n, grad);
  }

  static long count(int[] length) {
    long n = 0;
    for (int l : length) {
      n += l;
    }
    if (n == 0) {
      throw new IllegalArgumentException("no response tokens in the minibatch");
    }
    return n;
  }
}
