package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.util.List;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * A PPO prompt pool filtered by length: the prompts that, with BOS if configured and {@code
 * maxNewTokens} new tokens, fit the policy's context, and how many were left out as too long or
 * empty (no text tokens). {@code PpoTrainer} refuses a prompt that does not fit; filter the pool first with {@link
 * #fitting}.
 */
public record PromptPool(ImmutableList<String> prompts, int tooLong, int empty, int maxPromptTokens) {

  /** Keeps the prompts of at most {@code contextLength - config.maxNewTokens()} tokens (and at least one). */
  public static PromptPool fitting(List<String> prompts, Tokenizer tokenizer, PpoConfig config, int contextLength) {
    checkNotNull(tokenizer, "tokenizer");
    int max = contextLength - config.maxNewTokens();
    checkArgument(max >= 1, "context length %s leaves no room for a prompt with maxNewTokens %s", contextLength, config.maxNewTokens());
    ImmutableList.Builder<String> kept = ImmutableList.builder();
    int tooLong = 0;
    int empty = 0;
    for (String p : prompts) {
      int text = tokenizer.encode(p).length;
      int n = text + (config.addBos() ? 1 : 0);
      if (text == 0) {
        empty++;
      } else if (n > max) {
        tooLong++;
      } else {
        kept.add(p);
      }
    }
    return new PromptPool(kept.build(), tooLong, empty, max);
  }

  /** E.g. {@code "42 of 252 prompts fit (210 longer than 96 tokens, 0 empty)"}. */
  public String summary() {
    int total = prompts.size() + tooLong + empty;
    return prompts.size() + " of " + total + " prompts fit (" + tooLong + " longer than " + maxPromptTokens + " tokens, " + empty + " empty)";
  }
}
