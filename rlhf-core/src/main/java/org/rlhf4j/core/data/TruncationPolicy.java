package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Optional;

/**
 * What to do with a (prompt, response) pair longer than the maximum length, shared by SFT data
 * ({@code SftConfig.truncation}) and reward-model data ({@code RewardConfig.truncation}). The
 * prompt is always cut from the left (its end, nearest the response, is kept) and the response from
 * the right (its start is kept). The readers that apply a policy count the pairs it truncated and
 * skipped.
 */
public enum TruncationPolicy {
  /** Shorten the prompt first; the response is cut only if it alone leaves no room for one prompt token. */
  TRUNCATE_PROMPT_LEFT,
  /** Shorten the response first; the prompt is cut only if it alone leaves no room for one response token. */
  TRUNCATE_RESPONSE,
  /** The response keeps at least half of the room (SFT's default). */
  BALANCED,
  /** Leave the pair out (counted). */
  SKIP,
  /** Refuse: an error naming the record (the reward model's default). */
  FAIL;

  /** How much of a pair to keep: the last {@code promptTokens} of the prompt and the first {@code responseTokens} of the response. */
  public record Cut(int promptTokens, int responseTokens, boolean truncated) {}

  /**
   * The cut for a pair of {@code promptLength} and {@code responseLength} tokens in {@code
   * maxLength}; empty for {@link #SKIP} (and for {@link #FAIL}, whose callers report the error)
   * when it does not fit.
   */
  public Optional<Cut> fit(int promptLength, int responseLength, int maxLength) {
    checkArgument(maxLength >= 2, "maxLength must be >= 2, got %s", maxLength);
    checkArgument(promptLength >= 0 && responseLength >= 0, "negative length: prompt %s, response %s", promptLength, responseLength);
    if (promptLength + responseLength <= maxLength) {
      return Optional.of(new Cut(promptLength, responseLength, false));
    }
    int p;
    int c;
    switch (this) {
      case TRUNCATE_PROMPT_LEFT -> {
        c = Math.min(responseLength, maxLength - Math.min(promptLength, 1));
        p = Math.min(promptLength, maxLength - c);
      }
      case TRUNCATE_RESPONSE -> {
        p = Math.min(promptLength, maxLength - Math.min(responseLength, 1));
        c = Math.min(responseLength, maxLength - p);
      }
      case BALANCED -> {
        c = Math.min(responseLength, maxLength - Math.min(promptLength, maxLength / 2));
        p = Math.min(promptLength, maxLength - c);
      }
      default -> {
        return Optional.empty();
      }
    }
    return Optional.of(new Cut(p, c, true));
  }
}
