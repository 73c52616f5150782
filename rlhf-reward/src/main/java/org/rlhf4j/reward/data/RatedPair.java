package org.rlhf4j.reward.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

/**
 * A comparison built from two rated texts: {@code chosen} has the higher human rating.
 *
 * @param chosen the higher-rated text
 * @param rejected the lower-rated text
 */
public record RatedPair(RatedText chosen, RatedText rejected) {

  /**
   * Checks the order.
   *
   * @throws IllegalArgumentException unless {@code chosen} is rated strictly higher than {@code
   *     rejected}
   */
  public RatedPair {
    checkNotNull(chosen, "chosen");
    checkNotNull(rejected, "rejected");
    checkArgument(
        chosen.rating() > rejected.rating(),
        "chosen %s (rating %s) must be rated higher than rejected %s (rating %s)",
        chosen.id(),
        chosen.rating(),
        rejected.id(),
        rejected.rating());
  }

  /** The rating difference, {@code chosen.rating() - rejected.rating()}, positive. */
  public double gap() {
    return chosen.rating() - rejected.rating();
  }

  /**
   * The comparison as reward-model training data: an empty prompt (the reward model scores each
   * text on its own), the two texts, weight 1.
   */
  public PreferencePair toPreferencePair() {
    return PreferencePair.of("", chosen.text(), rejected.text());
  }
}
