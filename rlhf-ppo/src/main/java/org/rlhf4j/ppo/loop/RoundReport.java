package org.rlhf4j.ppo.loop;

import com.google.common.collect.ImmutableList;
import java.util.Optional;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.reward.RewardEvaluation;
import org.rlhf4j.reward.RewardResult;

/**
 * What one round of {@link RlhfLoop} did.
 *
 * @param round 0-based round number
 * @param asked items sent to the labeller this round (items already stored are not asked again)
 * @param ranked items ranked this round
 * @param skipped items skipped this round
 * @param totalComparisons comparisons in the store after the round
 * @param reward the reward-model update on all comparisons so far (absent while there are none)
 * @param heldOut the reward model on held-out rankings after the update, if the loop has some
 * @param ppo the PPO steps of the round
 */
public record RoundReport(
    int round,
    int asked,
    int ranked,
    int skipped,
    int totalComparisons,
    Optional<RewardResult> reward,
    Optional<RewardEvaluation> heldOut,
    ImmutableList<PpoStats> ppo) {

  /** The mean reward-model score of the round's last PPO step (NaN without PPO steps). */
  public double lastScore() {
    return ppo.isEmpty() ? Double.NaN : ppo.get(ppo.size() - 1).meanScore();
  }

  /** The KL to the reference of the round's last PPO step (NaN without PPO steps). */
  public double lastKl() {
    return ppo.isEmpty() ? Double.NaN : ppo.get(ppo.size() - 1).kl();
  }
}
