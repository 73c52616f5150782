package org.rlhf4j.dl4j;

import static com.google.common.base.Preconditions.checkState;

import java.util.Optional;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * One (prompt, response) pair to be scored, as a {@link Featurizer} sees it: the token ids of the
 * prompt and of the response (padding removed), and their texts when the reward model was given a
 * tokenizer. Immutable.
 */
public final class ScoredSample {
  private final int[] promptIds;
  private final int[] responseIds;
  private final Tokenizer tokenizer;

  ScoredSample(int[] promptIds, int[] responseIds, Optional<Tokenizer> tokenizer) {
    this.promptIds = promptIds;
    this.responseIds = responseIds;
    this.tokenizer = tokenizer.orElse(null);
  }

  /** A sample from ids, decoded with {@code tokenizer} (for featurizer tests and offline scoring). */
  public static ScoredSample of(int[] promptIds, int[] responseIds, Tokenizer tokenizer) {
    return new ScoredSample(promptIds.clone(), responseIds.clone(), Optional.of(tokenizer));
  }

  /** The prompt's token ids (a copy; empty when the caller gave no prompt/response split). */
  public int[] promptIds() {
    return promptIds.clone();
  }

  /** The response's token ids (a copy). */
  public int[] responseIds() {
    return responseIds.clone();
  }

  /** The prompt's text, special tokens dropped. */
  public String promptText() {
    return decode(promptIds);
  }

  /** The response's text, special tokens dropped. */
  public String responseText() {
    return decode(responseIds);
  }

  private String decode(int[] ids) {
    checkState(tokenizer != null, "this sample has no text: give the reward model a tokenizer (Dl4jRewardModel.Builder.tokenizer)");
    return tokenizer.decode(ids);
  }
}
