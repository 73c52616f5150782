package org.rlhf4j.core.model;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Gradients of a loss with respect to a {@link ForwardPass}'s outputs; any may be absent. Trainers
 * compose their losses from per-token outputs and hand these to {@link ForwardPass#backward}.
 *
 * @param logProbs {@code [B, T-1]}: dL/d log p(token t+1 | prefix) from {@link ForwardPass#tokenLogProbs}
 * @param entropy {@code [B, T-1]}: dL/d entropy, from the same call
 * @param values {@code [B, T]}: dL/d scalar-head output
 * @param logits {@code [B, T, V]}: dL/d raw logits
 */
public record OutputGradients(INDArray logProbs, INDArray entropy, INDArray values, INDArray logits) {

  /** Gradients of the log-probabilities only. */
  public static OutputGradients ofLogProbs(INDArray dLogProbs) {
    return new OutputGradients(dLogProbs, null, null, null);
  }

  /** Gradients of the scalar-head outputs only. */
  public static OutputGradients ofValues(INDArray dValues) {
    return new OutputGradients(null, null, dValues, null);
  }
}
