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
  private double gradNorm;
  boolean earlyStopped;

  void add(PpoLosses.PolicyLoss pl, PpoLosses.ValueLoss vl, double meanEntropy, double ptx, StepOutcome o) {
    n++;
    approxKl += pl.approxKl();
    clipFrac += pl.clipFraction();
    policyLoss += pl.loss();
    valueLoss += vl.loss();
    valueClipFrac += vl.clipFraction();
    entropy += meanEntropy;
    ratio += pl.meanRatio();
    gradNorm += o.gradNorm();
    if (!Double.isNaN(ptx)) {
      ptxLoss += ptx;
      ptxCount++;
    }
    skipped += o.applied() ? 0 : 1;
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
    m.put("grad_norm", gradNorm / n);
    m.put("updates", (double) n);
    m.put("skipped_updates", (double) skipped);
    m.put("early_stopped", earlyStopped ? 1.0 : 0.0);
    return m;
  }
}
