package org.rlhf4j.reward.feedback;

import com.google.common.collect.ImmutableList;
import java.time.Instant;
import org.rlhf4j.reward.data.Ranking;

/**
 * One human (or programmatic) ranking as kept by a {@link ComparisonStore}.
 *
 * @param sequence 1-based position in the store
 * @param itemId the labelled item's id
 * @param prompt the prompt
 * @param responses the K responses as shown
 * @param order their ranking, best first
 * @param labeller who ranked them
 * @param timestamp when the ranking was stored
 * @param modelVersion the policy that produced the responses
 */
public record StoredComparison(
    long sequence,
    String itemId,
    String prompt,
    ImmutableList<String> responses,
    ImmutableList<Integer> order,
    String labeller,
    Instant timestamp,
    String modelVersion) {

  /** As a {@link Ranking} for reward-model training, naming the store file and line as its source. */
  public Ranking toRanking(String source) {
    return Ranking.of(source, sequence, prompt, responses, order).withLabeller(labeller);
  }
}
