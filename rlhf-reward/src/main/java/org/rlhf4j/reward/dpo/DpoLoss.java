package org.rlhf4j.reward.dpo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

/**
 * The DPO losses on a batch of preference pairs, as pure functions of the four log-probabilities of
 * each pair (Rafailov et al. 2023). With {@code h = (pc - rc) - (pr - rr)}, the policy's minus the
 * reference's log-ratio of chosen over rejected:
 *
 * <ul>
 *   <li>{@link Type#SIGMOID} (DPO; cDPO with label smoothing ε): {@code -(1-ε) log σ(βh) - ε log
 *       σ(-βh)};
 *   <li>{@link Type#IPO} (Azar et al. 2023): {@code (h - 1/(2β))²}.
 * </ul>
 *
 * The batch loss is the weighted mean {@code sum(w l) / sum(w)} (a K-way ranking's C(K,2) pairs
 * carry weight 1/C(K,2) each). The implicit rewards are {@code β (pc - rc)} and {@code β (pr - rr)}.
 */
public final class DpoLoss {
  private DpoLoss() {}

  /** The loss variants. */
  public enum Type {
    /** DPO's {@code -log σ(βh)}, with optional label smoothing (cDPO). */
    SIGMOID,
    /** IPO's {@code (h - 1/(2β))²}. */
    IPO
  }

  /**
   * The loss, its gradients with respect to the policy's log-probabilities and TRL's statistics
   * (unweighted means over the pairs).
   *
   * @param loss the weighted mean loss
   * @param gradPolicyChosen {@code [P]}: dLoss / d pc
   * @param gradPolicyRejected {@code [P]}: dLoss / d pr
   * @param chosenRewards {@code [P]}: β (pc - rc)
   * @param rejectedRewards {@code [P]}: β (pr - rr)
   * @param accuracy fraction of pairs with chosen reward > rejected reward ({@code rewards/accuracies})
   * @param margin mean chosen minus rejected reward ({@code rewards/margins})
   * @param meanChosenReward {@code rewards/chosen}
   * @param meanRejectedReward {@code rewards/rejected}
   * @param meanPolicyChosen {@code logps/chosen}
   * @param meanPolicyRejected {@code logps/rejected}
   */
  public record Result(
      double loss,
      double[] gradPolicyChosen,
      double[] gradPolicyRejected,
      double[] chosenRewards,
      double[] rejectedRewards,
      double accuracy,
      double margin,
      double meanChosenReward,
      double meanRejectedReward,
      double meanPolicyChosen,
      double meanPolicyRejected) {}

  /**
   * The loss of one pair given {@code h}; see the class documentation.
   *
   * @throws IllegalArgumentException if β is not positive or ε not in [0, 0.5)
   */
  public static double pairLoss(double h, double beta, Type type, double labelSmoothing) {
    checkParams(beta, type, labelSmoothing);
    if (type == Type.IPO) {
      double d = h - 1 / (2 * beta);
      return d * d;
    }
    return -(1 - labelSmoothing) * logSigmoid(beta * h) - labelSmoothing * logSigmoid(-beta * h);
  }

  /** d {@link #pairLoss} / dh. */
  public static double pairLossGradient(double h, double beta, Type type, double labelSmoothing) {
    checkParams(beta, type, labelSmoothing);
    if (type == Type.IPO) {
      return 2 * (h - 1 / (2 * beta));
    }
    // d/dx log σ(x) = σ(-x)
    return -(1 - labelSmoothing) * beta * sigmoid(-beta * h) + labelSmoothing * beta * sigmoid(beta * h);
  }

  /**
   * The batch loss of {@code P} pairs.
   *
   * @param policyChosen {@code [P]}: log π(chosen | prompt) (summed or averaged over tokens)
   * @param policyRejected {@code [P]}: log π(rejected | prompt)
   * @param referenceChosen {@code [P]}: log π_ref(chosen | prompt)
   * @param referenceRejected {@code [P]}: log π_ref(rejected | prompt)
   * @param weights {@code [P]}: non-negative pair weights with a positive sum
   * @throws IllegalArgumentException on mismatched lengths, an empty batch, non-finite inputs, a
   *     negative weight or invalid β / ε
   */
  public static Result compute(
      double[] policyChosen,
      double[] policyRejected,
      double[] referenceChosen,
      double[] referenceRejected,
      double[] weights,
      double beta,
      Type type,
      double labelSmoothing) {
    checkParams(beta, type, labelSmoothing);
    int p = policyChosen.length;
    checkArgument(p >= 1, "no preference pairs");
    checkLength("policyRejected", policyRejected, p);
    checkLength("referenceChosen", referenceChosen, p);
    checkLength("referenceRejected", referenceRejected, p);
    checkLength("weights", weights, p);
    double wSum = 0;
    for (int i = 0; i < p; i++) {
      checkFinite("policyChosen", policyChosen, i);
      checkFinite("policyRejected", policyRejected, i);
      checkFinite("referenceChosen", referenceChosen, i);
      checkFinite("referenceRejected", referenceRejected, i);
      checkArgument(weights[i] >= 0 && Double.isFinite(weights[i]), "weights[%s] must be finite and >= 0, got %s", (Integer) i, (Double) weights[i]);
      wSum += weights[i];
    }
    checkArgument(wSum > 0, "the pair weights sum to 0");
    double loss = 0;
    double[] gc = new double[p];
    double[] gr = new double[p];
    double[] rc = new double[p];
    double[] rr = new double[p];
    double acc = 0;
    double margin = 0;
    double mc = 0;
    double mr = 0;
    double lpc = 0;
    double lpr = 0;
    for (int i = 0; i < p; i++) {
      double chosenRatio = policyChosen[i] - referenceChosen[i];
      double rejectedRatio = policyRejected[i] - referenceRejected[i];
      double h = chosenRatio - rejectedRatio;
      double w = weights[i] / wSum;
      loss += w * pairLoss(h, beta, type, labelSmoothing);
      double dh = w * pairLossGradient(h, beta, type, labelSmoothing);
      gc[i] = dh;
      gr[i] = -dh;
      rc[i] = beta * chosenRatio;
      rr[i] = beta * rejectedRatio;
      acc += rc[i] > rr[i] ? 1 : 0;
      margin += rc[i] - rr[i];
      mc += rc[i];
      mr += rr[i];
      lpc += policyChosen[i];
      lpr += policyRejected[i];
    }
    return new Result(loss, gc, gr, rc, rr, acc / p, margin / p, mc / p, mr / p, lpc / p, lpr / p);
  }

  /** {@code log σ(x)}, stable for large |x|. */
  static double logSigmoid(double x) {
    return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
  }

  private static double sigmoid(double x) {
    return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
  }

  private static void checkParams(double beta, Type type, double labelSmoothing) {
    checkNotNull(type, "type");
    checkArgument(beta > 0 && Double.isFinite(beta), "beta must be positive, got %s", beta);
    checkArgument(labelSmoothing >= 0 && labelSmoothing < 0.5, "labelSmoothing must be in [0, 0.5), got %s", labelSmoothing);
    checkArgument(type == Type.SIGMOID || labelSmoothing == 0, "labelSmoothing applies to the SIGMOID loss only, got %s with %s", labelSmoothing, type);
  }

  private static void checkLength(String name, double[] a, int p) {
    checkNotNull(a, name);
    checkArgument(a.length == p, "%s has %s entries, expected %s (one per pair)", name, a.length, p);
  }

  private static void checkFinite(String name, double[] a, int i) {
    checkArgument(Double.isFinite(a[i]), "%s[%s] is not finite: %s", name, (Integer) i, (Double) a[i]);
  }
}
