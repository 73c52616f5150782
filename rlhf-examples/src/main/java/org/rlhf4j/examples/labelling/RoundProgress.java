package org.rlhf4j.examples.labelling;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.OptionalInt;

/**
 * How far the people labelling are through the current round: the round of the most recently
 * published item, how many of that round's items have been published, and how many of them have
 * been answered (ranked or skipped).
 *
 * @param round the current round; empty before any item has been published
 * @param labelled items of this round answered so far, skips included
 * @param skipped of those, how many were skipped
 * @param total items of this round published so far
 */
public record RoundProgress(OptionalInt round, int labelled, int skipped, int total) {
  /** Nothing published yet. */
  public static final RoundProgress NONE = new RoundProgress(OptionalInt.empty(), 0, 0, 0);

  /** Validates the counts. */
  public RoundProgress {
    checkNotNull(round, "round must not be null (use OptionalInt.empty())");
    checkArgument(skipped >= 0 && skipped <= labelled, "skipped (%s) must be in 0..labelled (%s)", skipped, labelled);
    checkArgument(labelled <= total, "labelled (%s) must not exceed total (%s)", labelled, total);
  }

  /** Items of this round still waiting for an answer. */
  public int remaining() {
    return total - labelled;
  }
}
