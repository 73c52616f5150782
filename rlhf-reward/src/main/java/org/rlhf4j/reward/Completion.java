package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkNotNull;

/** A prompt and the response generated for it, as text (special tokens such as BOS/EOS removed). */
public record Completion(String prompt, String response) {
  /** Checks that neither text is null. */
  public Completion {
    checkNotNull(prompt, "prompt");
    checkNotNull(response, "response");
  }
}
