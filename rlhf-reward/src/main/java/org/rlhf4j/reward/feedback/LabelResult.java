package org.rlhf4j.reward.feedback;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import java.util.List;
import java.util.Optional;

/**
 * A labeller's answer to a {@link LabelRequest}: a ranking (indices of the responses, best first)
 * or a skip.
 *
 * @param itemId the request's id
 * @param order the ranking, best first; empty for a skip
 * @param labeller who answered (a person's id, or a program's name)
 */
public record LabelResult(String itemId, ImmutableList<Integer> order, String labeller) {
  public LabelResult {
    checkArgument(itemId != null, "itemId must be set");
    checkArgument(labeller != null && !labeller.isBlank(), "labeller must be named");
  }

  /** A ranking of {@code request}'s responses, validated as a permutation of {@code 0..K-1}. */
  public static LabelResult ranked(LabelRequest request, List<Integer> order, String labeller) {
    checkPermutation(order, request.k());
    return new LabelResult(request.itemId(), ImmutableList.copyOf(order), labeller);
  }

  /** The labeller declined to rank {@code request}. */
  public static LabelResult skipped(LabelRequest request, String labeller) {
    return new LabelResult(request.itemId(), ImmutableList.of(), labeller);
  }

  /** Whether this is a skip. */
  public boolean isSkip() {
    return order.isEmpty();
  }

  /** The ranking, if not a skip. */
  public Optional<ImmutableList<Integer>> ranking() {
    return isSkip() ? Optional.empty() : Optional.of(order);
  }

  /**
   * Checks that {@code order} is a permutation of {@code 0..k-1}.
   *
   * @throws IllegalArgumentException naming the problem (length, range or duplicate)
   */
  public static void checkPermutation(List<Integer> order, int k) {
    checkArgument(order != null && order.size() == k, "a ranking must list all %s responses, got %s", k, order);
    boolean[] seen = new boolean[k];
    for (Integer i : order) {
      checkArgument(i != null && i >= 0 && i < k, "ranking index %s is outside 0..%s", i, k - 1);
      checkArgument(!seen[i], "ranking index %s appears twice in %s", i, order);
      seen[i] = true;
    }
  }
}
