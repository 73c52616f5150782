package org.rlhf4j.examples.labelling;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.OptionalDouble;

/**
 * What the training loop tells the people labelling, shown at the top of the labelling page: a short
 * line about what it is doing and, once it has them, the current round's held-out reward-model
 * accuracy and mean PPO score. The loop replaces the whole status with {@link
 * WebLabeller#setStatus}; it is up to the loop to clear the numbers when a new round starts.
 *
 * @param stage a short free-form line, e.g. {@code "Round 2: training the reward model"}; may be empty
 * @param rewardModelAccuracy the reward model's held-out pairwise accuracy in {@code [0, 1]}, if known
 * @param ppoScore the policy's mean reward-model score after PPO, if known (any finite number)
 */
public record TrainingStatus(String stage, OptionalDouble rewardModelAccuracy, OptionalDouble ppoScore) {
  /** No stage and no numbers yet. */
  public static final TrainingStatus NONE = new TrainingStatus("", OptionalDouble.empty(), OptionalDouble.empty());

  /** Validates the fields. */
  public TrainingStatus {
    checkNotNull(stage, "stage must not be null (use \"\")");
    checkNotNull(rewardModelAccuracy, "rewardModelAccuracy must not be null (use OptionalDouble.empty())");
    checkNotNull(ppoScore, "ppoScore must not be null (use OptionalDouble.empty())");
    rewardModelAccuracy.ifPresent(a -> checkArgument(a >= 0 && a <= 1, "reward-model accuracy must be in [0, 1], got %s", a));
    ppoScore.ifPresent(s -> checkArgument(Double.isFinite(s), "PPO score must be finite, got %s", s));
  }

  /** This status with another stage line. */
  public TrainingStatus withStage(String newStage) {
    return new TrainingStatus(newStage, rewardModelAccuracy, ppoScore);
  }

  /** This status with the reward model's held-out accuracy set. */
  public TrainingStatus withRewardModelAccuracy(double accuracy) {
    return new TrainingStatus(stage, OptionalDouble.of(accuracy), ppoScore);
  }

  /** This status with the PPO score set. */
  public TrainingStatus withPpoScore(double score) {
    return new TrainingStatus(stage, rewardModelAccuracy, OptionalDouble.of(score));
  }
}
