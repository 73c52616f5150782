package org.rlhf4j.ppo;

/** What {@link PpoTrainer} does when the reward model returns a NaN or infinite score. */
public enum NonFiniteScores {
  /** Fail the step, naming the reward model, the episode and its prompt (the default). */
  FAIL,
  /**
   * Drop those episodes from the step (they reach neither the score statistics nor the update),
   * counted in {@code objective/scores_nonfinite} and logged.
   */
  SKIP
}
