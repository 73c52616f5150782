package org.rlhf4j.reward.feedback;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import java.util.List;

/**
 * One item for a labeller: a prompt and the K responses the current policy gave, to be ranked.
 *
 * @param itemId unique within a loop (e.g. {@code r3-p12})
 * @param prompt the prompt text
 * @param responses the K >= 2 responses, in the order shown
 * @param round the loop round that produced them
 * @param modelVersion the policy that produced them
 */
public record LabelRequest(String itemId, String prompt, ImmutableList<String> responses, int round, String modelVersion) {
  public LabelRequest {
    checkArgument(itemId != null && !itemId.isBlank(), "itemId must be set");
    checkArgument(responses.size() >= 2, "item %s: need at least 2 responses, got %s", itemId, responses.size());
  }

  /** A request (responses copied). */
  public static LabelRequest of(String itemId, String prompt, List<String> responses, int round, String modelVersion) {
    return new LabelRequest(itemId, prompt, ImmutableList.copyOf(responses), round, modelVersion);
  }

  /** K. */
  public int k() {
    return responses.size();
  }
}
