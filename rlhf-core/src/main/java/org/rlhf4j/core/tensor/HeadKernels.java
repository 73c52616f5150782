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
   * backward pass; for the positions of logits rows {@code [from, to)} of the {@code b*T} (all of them:
   * {@code [0, b*T)}; threads may compute disjoint ranges at once, each row's results are the same).
   */
  void tokenLogProbs(Tensor logits, int[] ids, double invTemperature, Tensor logp, Tensor entropy, Tensor lse, int t, int vocab, int from, int to);

  /**
   * Writes rows {@code [from, to)} of {@code dLogits [b, T, V]} for upstream gradients {@code gLogp}
   * and {@code gEntropy} (either may be {@code null}); rows of the last position are zero.
   */
  void tokenLogProbsBackward(Tensor logits, int[] ids, double invTemperature, Tensor lse, Tensor entropy, Tensor gLogp, Tensor gEntropy, Tensor dLogits, int t, int vocab, int from, int to);
}
