package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

/**
 * One supervised fine-tuning (or pre-training) example: the model is trained to produce {@code
 * completion} after {@code prompt}, with the loss on the completion only (TRL's completion-only
 * loss). The full training text is {@link #text()} = {@code prompt + completion}.
 *
 * @param prompt the conditioning text; empty for plain-text (pre-training style) examples
 * @param completion the text the loss is computed on; never blank
 */
public record SftExample(String prompt, String completion) {

  /**
   * Checks the fields.
   *
   * @throws IllegalArgumentException if {@code completion} is blank
   */
  public SftExample {
    checkNotNull(prompt, "prompt");
    checkNotNull(completion, "completion");
    checkArgument(!completion.isBlank(), "the completion is empty");
  }

  /** A plain-text example: empty prompt, the whole {@code text} as completion. */
  public static SftExample ofText(String text) {
    return new SftExample("", text);
  }

  /** The full training text, {@code prompt + completion}. */
  public String text() {
    return prompt + completion;
  }
}
