package org.rlhf4j.reward.feedback;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

/**
 * One blind A/B item as shown: two policies' responses to the same prompt, in the order a person sees
 * them ({@code A} first). Which policy is A is decided per item by the caller (randomly, with a
 * seed) and never shown on the page.
 *
 * @param itemId a stable id, unique within a store
 * @param prompt the prompt both policies answered
 * @param policyA the policy whose response is shown as A
 * @param responseA the response shown as A
 * @param policyB the policy whose response is shown as B
 * @param responseB the response shown as B
 */
public record AbItem(String itemId, String prompt, String policyA, String responseA, String policyB, String responseB) {
  /** Validates the fields. */
  public AbItem {
    checkArgument(itemId != null && !itemId.isEmpty(), "itemId must be a non-empty string");
    checkNotNull(prompt, "item %s: prompt must not be null", itemId);
    checkArgument(policyA != null && !policyA.isBlank(), "item %s: policyA must be named", itemId);
    checkArgument(policyB != null && !policyB.isBlank(), "item %s: policyB must be named", itemId);
    checkArgument(!policyA.equals(policyB), "item %s: policies A and B must differ, both are %s", itemId, policyA);
    checkNotNull(responseA, "item %s: responseA must not be null", itemId);
    checkNotNull(responseB, "item %s: responseB must not be null", itemId);
  }

  /** The policy that {@code choice} prefers, or null for a tie. */
  String winner(AbChoice choice) {
    return switch (choice) {
      case A -> policyA;
      case B -> policyB;
      case TIE -> null;
    };
  }
}
