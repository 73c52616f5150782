package org.rlhf4j.reward;

/** An application's reward for one response to a prompt, on the texts. See {@link RewardModel#ofText}. */
@FunctionalInterface
public interface TextScorer {
  /** The score of {@code response} given {@code prompt}; must be finite. */
  double score(String prompt, String response);
}
