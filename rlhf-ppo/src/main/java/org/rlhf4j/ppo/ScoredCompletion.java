package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkNotNull;

/**
 * One response sampled in a PPO step, as text: the prompt, the response (special tokens removed),
 * the reward model's {@code score}, the {@code reward} PPO used (the score after the EOS penalty,
 * scaling and clipping), the response's summed KL to the reference, and whether it ended with EOS.
 */
public record ScoredCompletion(String prompt, String response, double score, double reward, double kl, boolean eos) {
  /** Checks that neither text is null. */
  public ScoredCompletion {
    checkNotNull(prompt, "prompt");
    checkNotNull(response, "response");
  }
}
