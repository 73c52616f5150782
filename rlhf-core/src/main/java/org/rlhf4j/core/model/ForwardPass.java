package org.rlhf4j.core.model;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The result of {@link CausalLm#forward}: the trunk has run over a batch, and the heads are computed
 * on demand — {@link #logits()}, {@link #tokenLogProbs(double)} (with entropy) and {@link #values()}.
 * {@link #backward} takes gradients of a loss with respect to those outputs and adds the parameter
 * gradients to the model's. Valid until the model's next forward pass: a stale pass throws {@link
 * IllegalStateException}.
 */
public interface ForwardPass {
  /** The batch this pass ran on. */
  TokenBatch batch();

  /** The logits {@code [B, T, V]} (a new array). */
  INDArray logits();

  /**
   * Per-token log-probabilities of the next token and next-token entropies, {@code [B, T-1]} each,
   * with logits divided by {@code temperature} (use the sampling temperature for PPO's ratios and
   * KL). A later {@link #backward} uses the most recent call's temperature.
   *
   * @throws IllegalArgumentException if {@code temperature} is not positive and finite or the batch
   *     is shorter than 2
   */
  TokenLogProbs tokenLogProbs(double temperature);

  /**
   * The scalar head's output at every position, {@code [B, T]}.
   *
   * @throws IllegalStateException if the model has no scalar head
   */
  INDArray values();

  /**
   * Adds to the model's gradients the gradient of a loss whose derivatives with respect to this
   * pass's outputs are {@code g}. Log-prob and entropy gradients need {@link #tokenLogProbs} first.
   */
  void backward(OutputGradients g);
}
