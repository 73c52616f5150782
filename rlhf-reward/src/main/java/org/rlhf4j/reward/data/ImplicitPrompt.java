package org.rlhf4j.reward.data;

import static com.google.common.base.Preconditions.checkNotNull;

/**
 * Splits two plain-text conversations that share a prompt (TRL's "implicit prompt" preference
 * format, {@code {"chosen": "...", "rejected": "..."}}) into the prompt and the two responses.
 *
 * <p>The prompt is the longest common prefix of the two texts, cut back to a word boundary: the cut
 * is placed at the start of the last run of whitespace that both texts share at or before their
 * first difference, so the prompt never ends inside a word or with whitespace, and each response
 * starts with the whitespace that separates it from the prompt (as GPT-2 style tokens carry their
 * leading space). For example {@code "The sky is blue."} / {@code "The sky is green."} gives the
 * prompt {@code "The sky is"} and responses {@code " blue."} / {@code " green."}, and {@code
 * "User: Hi\n\nAssistant: Hello"} / {@code "User: Hi\n\nAssistant: Go away"} gives {@code "User:
 * Hi\n\nAssistant:"} with {@code " Hello"} / {@code " Go away"}. Texts that share no such boundary
 * get an empty prompt. Prompt + response always equals the original text.
 */
public final class ImplicitPrompt {
  private ImplicitPrompt() {}

  /**
   * The split of one comparison.
   *
   * @param prompt the shared prefix (may be empty)
   * @param chosen the rest of the preferred text
   * @param rejected the rest of the other text
   */
  public record Split(String prompt, String chosen, String rejected) {
    /** Checks that no field is null. */
    public Split {
      checkNotNull(prompt, "prompt");
      checkNotNull(chosen, "chosen");
      checkNotNull(rejected, "rejected");
    }
  }

  /** The prompt and responses of {@code chosen} and {@code rejected}, split as described above. */
  public static Split split(String chosen, String rejected) {
    checkNotNull(chosen, "chosen");
    checkNotNull(rejected, "rejected");
    int common = 0;
    int max = Math.min(chosen.length(), rejected.length());
    while (common < max && chosen.charAt(common) == rejected.charAt(common)) {
      common++;
    }
    int cut = Math.min(common, max - 1);
    while (cut > 0
        && !(Character.isWhitespace(chosen.charAt(cut))
            && Character.isWhitespace(rejected.charAt(cut))
            && !Character.isWhitespace(chosen.charAt(cut - 1)))) {
      cut--;
    }
    cut = Math.max(cut, 0);
    return new Split(chosen.substring(0, cut), chosen.substring(cut), rejected.substring(cut));
  }
}
