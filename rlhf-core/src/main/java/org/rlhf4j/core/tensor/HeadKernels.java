package org.rlhf4j.core.tensor;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * Kernels of the language-model head: per-token log-probabilities of the next token and the
 * entropy of the next-token distribution, both at a sampling temperature, and their backward pass.
 * Layouts: {@code logits [b, T, V]}, token ids {@code int[b*T]}, outputs {@code [b, T-1]} (position
 * {@code t} scores token {@code t+1}). Implemented once for float; the double twin is generated.
 */
public interface HeadKernels {

  /** The implementation for {@code type} (FLOAT or DOUBLE). */
  static HeadKernels of(DataType type) {
    return type == DataType.DOUBLE ? DoubleHeadKernels.INSTANCE : FloatHeadKernels.INSTANCE;
  }

  /**
   * With {@code z = logits / temperature}: {@code logp[b, t] = log softmax(z[b, t])[ids[b, t+1]]},
   * {@code entropy[b, t] = -sum p log p}, and {@code lse[b, t] = logsumexp(z[b, t])} kept for the
   * backward pass.
   */
  default void tokenLogProbs(Tensor logits, int[] ids, double invTemperature, Tensor logp, Tensor entropy, Tensor lse, int b, int t, int vocab) {
    tokenLogProbs(logits, ids, invTemperature, logp, entropy, lse, b, t, vocab, 0, b * t);
  }

  /**
   * {@link #tokenLogProbs(Tensor, int[], double, Tensor, Tensor, Tensor, int, int, int)} for the
   * positions of logits rows {@code [from, to)} of the {@code b*T} only (threads may compute disjoint
   * ranges at once; each row's results are the same as in a whole pass).
   */
  void tokenLogProbs(Tensor logits, int[] ids, double invTemperature, Tensor logp, Tensor entropy, Tensor lse, int b, int t, int vocab, int from, int to);

  /**
   * Writes {@code dLogits [b, T, V]} for upstream gradients {@code gLogp} and {@code gEntropy}
   * (either may be {@code null}); rows of the last position are zero.
   */
  default void tokenLogProbsBackward(Tensor logits, int[] ids, double invTemperature, Tensor lse, Tensor entropy, Tensor gLogp, Tensor gEntropy, Tensor dLogits, int b, int t, int vocab) {
    tokenLogProbsBackward(logits, ids, invTemperature, lse, entropy, gLogp, gEntropy, dLogits, b, t, vocab, 0, b * t);
  }

  /** {@link #tokenLogProbsBackward(Tensor, int[], double, Tensor, Tensor, Tensor, Tensor, Tensor, int, int, int)} for rows {@code [from, to)} of {@code dLogits} only. */
  void tokenLogProbsBackward(Tensor logits, int[] ids, double invTemperature, Tensor lse, Tensor entropy, Tensor gLogp, Tensor gEntropy, Tensor dLogits, int b, int t, int vocab, int from, int to);
}
