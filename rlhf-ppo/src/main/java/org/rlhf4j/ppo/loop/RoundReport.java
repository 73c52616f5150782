package org.rlhf4j.ppo.loop;

import com.google.common.collect.ImmutableList;
import java.util.Optional;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.reward.RewardEvaluation;
import org.rlhf4j.reward.RewardResult;
import org.rlhf4j.reward.dpo.DpoResult;

/**
 * What one round of {@link RlhfLoop} did.
 *
 * @param round 0-based round number
 * @param asked items sent to the labeller this round (items already stored are not asked again)
 * @param ranked items ranked this round
 * @param skipped items skipped this round
 * @param totalComparisons comparisons in the store after the round
 * @param update what the policy optimiser did with all comparisons so far
 */
public record RoundReport(int round, int asked, int ranked, int skipped, int totalComparisons, PolicyUpdate update) {

  /** The reward-model update on all comparisons so far (absent while there are none, or with DPO). */
  public Optional<RewardResult> reward() {
    return update.reward();
  }

  /** The reward model on held-out rankings after the update, if the loop has some. */
  public Optional<RewardEvaluation> heldOut() {
    return update.heldOut();
  }

  /** The PPO steps of the round (empty with DPO). */
  public ImmutableList<PpoStats> ppo() {
    return update.ppo();
  }

  /** The DPO run of the round (absent with reward model + PPO). */
  public Optional<DpoResult> dpo() {
    return update.dpo();
  }

  /** The mean reward-model score of the round's last PPO step (NaN without PPO steps). */
  public double lastScore() {
    return ppo().isEmpty() ? Double.NaN : ppo().get(ppo().size() - 1).meanScore();
  }

  /** The KL to the reference of the round's last PPO step (NaN without PPO steps). */
  public double lastKl() {
    return ppo().isEmpty() ? Double.NaN : ppo().get(ppo().size() - 1).kl();
  }
}
