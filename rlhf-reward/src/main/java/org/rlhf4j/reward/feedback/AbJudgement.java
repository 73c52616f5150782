package org.rlhf4j.reward.feedback;

import java.time.Instant;

/**
 * One stored blind A/B verdict, as kept by an {@link AbStore}.
 *
 * @param sequence 1-based position in the store
 * @param item the item as it was shown (which policy was A and which B)
 * @param choice the verdict
 * @param labeller who judged
 * @param timestamp when the verdict was stored
 */
public record AbJudgement(long sequence, AbItem item, AbChoice choice, String labeller, Instant timestamp) {}
