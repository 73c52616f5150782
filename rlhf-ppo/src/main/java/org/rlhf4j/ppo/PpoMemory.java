package org.rlhf4j.ppo;

import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.MemoryEstimate;

/** Refuses a PPO batch whose activations cannot fit in memory, naming the estimate and the limit. */
final class PpoMemory {
  private PpoMemory() {}

  /** Checks a step with {@code batch} sequences of {@code length} tokens, plus {@code extra} bytes. */
  static void check(PpoConfig config, CausalLm policy, CausalLm reference, CausalLm critic, int batch, int length, long extra) {
    long bytes = estimateBytes(config, policy, reference, critic, batch, length);
    MemoryEstimate.check(
        "PPO with rolloutBatchSize " + batch + " and sequences of " + length + " tokens (policy " + policy + ")",
        bytes > Long.MAX_VALUE - extra ? Long.MAX_VALUE : bytes + extra,
        "lower rolloutBatchSize or maxNewTokens");
  }

  /** The optimiser moments' bytes of the trained models. */
  static long optimizerBytes(CausalLm policy, CausalLm critic) {
    return MemoryEstimate.parameterBytes(policy, 2)
        + (critic == null ? 0 : MemoryEstimate.parameterBytes(critic, 2));
  }

  /** Bytes a step with {@code batch} sequences of {@code length} tokens needs beyond the models' weights (a lower bound). */
  static long estimateBytes(PpoConfig config, CausalLm policy, CausalLm reference, CausalLm critic, int batch, int length) {
    double bytes = MemoryEstimate.activationBytes(policy, batch, length);
    bytes += MemoryEstimate.activationBytes(reference, batch, length);
    if (critic != null) {
      bytes += MemoryEstimate.activationBytes(critic, batch, length);
    }
    bytes += MemoryEstimate.decodeCacheBytes(policy, batch, length);
    if (config.klEstimator() == KlEstimator.FULL) { // both models' full logits
      bytes += 2.0 * batch * length * policy.vocabSize() * MemoryEstimate.elementBytes(policy.dataType());
    }
    bytes += 16.0 * batch * config.maxNewTokens() * Double.BYTES; // the rollout's per-token arrays
    return bytes >= 9.2e18 ? Long.MAX_VALUE : (long) bytes;
  }
}
