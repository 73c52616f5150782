package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * The reward model's ranking loss (InstructGPT, Ouyang et al. 2022, eq. 1), with TRL's margin and
 * reward centring: for pairs {@code (w, l)} of scored responses with weights {@code c} (each prompt's
 * C(K,2) pairs weighted 1/C(K,2)),
 *
 * <pre>
 *   L = sum_p c_p * [ -log sigmoid(r_w - r_l - margin) + centring * (r_w + r_l)^2 ] / sum_p c_p
 * </pre>
 *
 * and its gradient with respect to every score. A pure function.
 */
public final class RankingLoss {
  private RankingLoss() {}

  /**
   * The loss, its gradient and the batch statistics.
   *
   * @param loss the weighted mean loss
   * @param gradScores {@code dL/dr} for each scored response
   * @param accuracy the weighted fraction of pairs with {@code r_w > r_l}
   * @param margin the weighted mean of {@code r_w - r_l}
   */
  public record Result(double loss, double[] gradScores, double accuracy, double margin) {}

  /**
   * @param scores {@code r} for every response in the batch
   * @param winners {@code w} of each pair, indices into {@code scores}
   * @param losers {@code l} of each pair
   * @param weights {@code c} of each pair, positive
   * @param margin subtracted from every difference (0 for plain Bradley-Terry)
   * @param centering coefficient of the centring term (TRL's {@code center_rewards_coefficient})
   */
  public static Result compute(double[] scores, int[] winners, int[] losers, double[] weights, double margin, double centering) {
    checkArgument(winners.length == losers.length && losers.length == weights.length, "pair arrays differ in length");
    checkArgument(winners.length > 0, "no pairs");
    double total = 0;
    for (double w : weights) {
      checkArgument(w > 0, "pair weights must be positive, got %s", w);
      total += w;
    }
    double loss = 0;
    double correct = 0;
    double marginSum = 0;
    double[] grad = new double[scores.length];
    for (int p = 0; p < winners.length; p++) {
      double rw = scores[winners[p]];
      double rl = scores[losers[p]];
      double c = weights[p] / total;
      double delta = rw - rl - margin;
      loss += c * softplus(-delta); // -log sigmoid(delta)
      double s = sigmoid(-delta); // d/d delta of -log sigmoid(delta) is -sigmoid(-delta)
      grad[winners[p]] -= c * s;
      grad[losers[p]] += c * s;
      if (centering != 0) {
        double sum = rw + rl;
        loss += c * centering * sum * sum;
        grad[winners[p]] += c * centering * 2 * sum;
        grad[losers[p]] += c * centering * 2 * sum;
      }
      correct += rw > rl ? c : 0;
      marginSum += c * (rw - rl);
    }
    return new Result(loss, grad, correct, marginSum);
  }

  /** {@code log(1 + e^x)}, computed without overflow. */
  static double softplus(double x) {
    return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
  }

  /** {@code 1 / (1 + e^-x)}, computed without overflow. */
  static double sigmoid(double x) {
    if (x >= 0) {
      return 1 / (1 + Math.exp(-x));
    }
    double e = Math.exp(x);
    return e / (1 + e);
  }
}
