package org.rlhf4j.ppo.loop;

import com.google.common.collect.ImmutableList;
import java.util.Optional;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.reward.RewardEvaluation;
import org.rlhf4j.reward.RewardResult;
import org.rlhf4j.reward.dpo.DpoResult;

/**
 * What a {@link PolicyOptimizer} did in a round: the reward-model update, its held-out evaluation
 * and the PPO steps (reward model + PPO), or the DPO run (whose result holds its held-out
 * evaluation). Parts an optimiser does not have are empty.
 *
 * @param reward the reward-model update on all comparisons so far
 * @param heldOut the reward model on the held-out rankings after the update
 * @param ppo the PPO steps of the round
 * @param dpo the DPO run of the round
 */
public record PolicyUpdate(
    Optional<RewardResult> reward, Optional<RewardEvaluation> heldOut, ImmutableList<PpoStats> ppo, Optional<DpoResult> dpo) {

  /** Nothing was done (no usable comparisons yet). */
  public static PolicyUpdate none() {
    return new PolicyUpdate(Optional.empty(), Optional.empty(), ImmutableList.of(), Optional.empty());
  }

  /** A reward-model update (with its held-out evaluation, if any) and the PPO steps after it. */
  public static PolicyUpdate rewardModelPpo(RewardResult reward, Optional<RewardEvaluation> heldOut, ImmutableList<PpoStats> ppo) {
    return new PolicyUpdate(Optional.of(reward), heldOut, ppo, Optional.empty());
  }

  /** A DPO run. */
  public static PolicyUpdate dpo(DpoResult dpo) {
    return new PolicyUpdate(Optional.empty(), Optional.empty(), ImmutableList.of(), Optional.of(dpo));
  }
}
