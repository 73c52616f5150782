package org.rlhf4j.ppo;

import java.util.LinkedHashMap;
import java.util.Map;
import org.rlhf4j.core.optim.StepOutcome;

/** Averages of the per-minibatch PPO statistics over one step's updates. */
final class MinibatchStats {
  private int n;
  private double approxKl;
  private double clipFrac;
  private double policyLoss;
  private double valueLoss;
  private double valueClipFrac;
  private double entropy;
  private double ratio;
  private double ptxLoss;
  private int ptxCount;
  private int skipped;
  private int skippedRatio;
  private int skippedBounds;
  private double policyKl;
  private double gradNorm;
  private int gradNormCount;
  boolean earlyStopped;

  /** Why a minibatch's update was not applied (before the optimiser saw it). */
  enum Skip {
    NONE,
    /** The mean ratio exceeded {@code ratioThreshold}. */
    RATIO,
    /** The approx-KL or the value loss exceeded its bound. */
    BOUND
  }

  /** Adds a minibatch; {@code o} is the optimiser's outcome, null when {@code skip} kept it from the optimiser. */
  void add(PpoLosses.PolicyLoss pl, PpoLosses.ValueLoss vl, double meanEntropy, double ptx, StepOutcome o, Skip skip) {
    n++;
    policyKl += pl.policyKl();
    approxKl += pl.approxKl();
    clipFrac += pl.clipFraction();
    policyLoss += pl.loss();
    valueLoss += vl.loss();
    valueClipFrac += vl.clipFraction();
    entropy += meanEntropy;
    ratio += pl.meanRatio();
    if (o != null) {
      gradNorm += o.gradNorm();
      gradNormCount++;
      skipped += o.applied() ? 0 : 1;
    }
    skippedRatio += skip == Skip.RATIO ? 1 : 0;
    skippedBounds += skip == Skip.BOUND ? 1 : 0;
    if (!Double.isNaN(ptx)) {
      ptxLoss += ptx;
      ptxCount++;
    }
  }

  int skippedRatio() {
    return skippedRatio;
  }

  int skippedBounds() {
    return skippedBounds;
  }

  int skippedNonFinite() {
    return skipped;
  }

  Map<String, Double> averages() {
    Map<String, Double> m = new LinkedHashMap<>();
    m.put("policy/approxkl_avg", approxKl / n);
    m.put("policy/clipfrac_avg", clipFrac / n);
    m.put("loss/policy_avg", policyLoss / n);
    m.put("loss/value_avg", valueLoss / n);
    m.put("val/clipfrac_avg", valueClipFrac / n);
    m.put("policy/entropy_avg", entropy / n);
    m.put("val/ratio", ratio / n);
    if (ptxCount > 0) {
      m.put("loss/ptx_avg", ptxLoss / ptxCount);
    }
    m.put("policy/policykl", policyKl / n);
    m.put("grad_norm", gradNormCount > 0 ? gradNorm / gradNormCount : 0.0);
    m.put("updates", (double) n);
    m.put("skipped_updates", (double) skipped);
    m.put("policy/skipped_ratio", (double) skippedRatio);
    m.put("policy/skipped_bounds", (double) skippedBounds);
    m.put("early_stopped", earlyStopped ? 1.0 : 0.0);
    return m;
  }
}
