package org.rlhf4j.core.model;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import java.util.Arrays;
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

  /**
   * Checks these gradients against a pass over {@code batch} rows of {@code length} tokens and a
   * vocabulary of {@code vocab}: every present gradient has its output's shape, log-prob/entropy
   * gradients come after {@link ForwardPass#tokenLogProbs} ({@code logProbsComputed}), and value
   * gradients only for a model with a scalar head. Shared by every model family's backward pass.
   *
   * @return whether a gradient reaches the logits (log-probs, entropy or logits themselves)
   */
  public boolean check(int batch, int length, int vocab, boolean logProbsComputed, boolean scalarHead) {
    boolean headGrads = logProbs != null || entropy != null;
    if (headGrads) {
      checkState(logProbsComputed, "backward with log-prob or entropy gradients needs tokenLogProbs() first");
      checkShape(logProbs, "logProbs", batch, length - 1);
      checkShape(entropy, "entropy", batch, length - 1);
    }
    checkShape(values, "values", batch, length);
    checkShape(logits, "logits", batch, length, vocab);
    if (values != null) {
      checkState(scalarHead, "value gradients given but the model has no scalar head");
    }
    return headGrads || logits != null;
  }

  private static void checkShape(INDArray a, String name, long... shape) {
    if (a != null) {
      checkArgument(Arrays.equals(a.shape(), shape), "%s gradient has shape %s, expected %s", name, Arrays.toString(a.shape()), Arrays.toString(shape));
    }
  }
}
