package org.rlhf4j.reward;

import java.util.List;

/**
 * An application's reward for a batch of completions at once (e.g. one call to an external
 * classifier). See {@link RewardModel#ofTexts}.
 */
@FunctionalInterface
public interface TextBatchScorer {
  /** One finite score per completion, in order: {@code [batch.size()]}. */
  double[] score(List<Completion> batch);
}
