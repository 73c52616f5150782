package org.rlhf4j.reward.dpo;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The DPO statistics of a policy on held-out rankings against its reference, all pairs of every
 * ranking together. {@link #accuracy()} is the implicit reward model's pairwise accuracy: the
 * fraction of pairs whose chosen response gets the higher {@code β log π/π_ref}.
 *
 * @param loss the weighted mean DPO loss ({@code eval/loss})
 * @param accuracy {@code eval/rewards/accuracies}
 * @param margin {@code eval/rewards/margins}
 * @param chosenReward {@code eval/rewards/chosen}
 * @param rejectedReward {@code eval/rewards/rejected}
 * @param chosenLogProb {@code eval/logps/chosen}
 * @param rejectedLogProb {@code eval/logps/rejected}
 * @param pairs the number of pairs evaluated
 */
public record DpoEvaluation(
    double loss,
    double accuracy,
    double margin,
    double chosenReward,
    double rejectedReward,
    double chosenLogProb,
    double rejectedLogProb,
    int pairs) {

  /** The statistics under TRL's names, each prefixed with {@code prefix} (e.g. {@code "eval/"}). */
  public Map<String, Double> toMetrics(String prefix) {
    Map<String, Double> m = new LinkedHashMap<>();
    m.put(prefix + "loss", loss);
    m.put(prefix + "rewards/chosen", chosenReward);
    m.put(prefix + "rewards/rejected", rejectedReward);
    m.put(prefix + "rewards/accuracies", accuracy);
    m.put(prefix + "rewards/margins", margin);
    m.put(prefix + "logps/chosen", chosenLogProb);
    m.put(prefix + "logps/rejected", rejectedLogProb);
    return m;
  }
}
