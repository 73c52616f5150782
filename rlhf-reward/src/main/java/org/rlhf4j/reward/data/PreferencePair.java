package org.rlhf4j.reward.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

/**
 * One human comparison for reward-model training: after {@code prompt}, {@code chosen} was
 * preferred to {@code rejected}. The pairwise ranking loss of a pair is multiplied by {@code
 * weight}; the pairs expanded from one {@link Ranking} have weights summing to 1, so every prompt
 * counts once whatever its number of responses (InstructGPT).
 *
 * @param prompt the conditioning text (may be empty)
 * @param chosen the preferred response
 * @param rejected the other response
 * @param weight the weight of this pair in the loss, finite and positive
 */
public record PreferencePair(String prompt, String chosen, String rejected, double weight) {

  /**
   * Checks the fields.
   *
   * @throws IllegalArgumentException if {@code weight} is not finite and positive
   */
  public PreferencePair {
    checkNotNull(prompt, "prompt");
    checkNotNull(chosen, "chosen");
    checkNotNull(rejected, "rejected");
    checkArgument(
        Double.isFinite(weight) && weight > 0, "weight must be finite and positive, got %s", weight);
  }

  /** A pair of weight 1. */
  public static PreferencePair of(String prompt, String chosen, String rejected) {
    return new PreferencePair(prompt, chosen, rejected, 1.0);
  }
}
