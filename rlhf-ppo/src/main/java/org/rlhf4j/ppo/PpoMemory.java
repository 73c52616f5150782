package org.rlhf4j.ppo;

import org.rlhf4j.core.model.GptModel;
import org.rlhf4j.core.model.MemoryEstimate;

/** Refuses a PPO batch whose activations cannot fit in memory, naming the estimate and the limit. */
final class PpoMemory {
  private PpoMemory() {}

  /** Checks a step with {@code batch} sequences of {@code length} tokens, plus {@code extra} bytes. */
  static void check(PpoConfig config, GptModel policy, GptModel reference, GptModel critic, int batch, int length, long extra) {
    long bytes = estimateBytes(config, policy, reference, critic, batch, length);
    MemoryEstimate.check(
        "PPO with rolloutBatchSize " + batch + " and sequences of " + length + " tokens (policy " + policy.config() + ")",
        bytes > Long.MAX_VALUE - extra ? Long.MAX_VALUE : bytes + extra,
        "lower rolloutBatchSize or maxNewTokens");
  }

  /** The optimiser moments' bytes of the trained models. */
  static long optimizerBytes(GptModel policy, GptModel critic) {
    return MemoryEstimate.parameterBytes(policy.config(), policy.dataType(), 2)
        + (critic == null ? 0 : MemoryEstimate.parameterBytes(critic.config(), critic.dataType(), 2));
  }

  /** Bytes a step with {@code batch} sequences of {@code length} tokens needs beyond the models' weights (a lower bound). */
  static long estimateBytes(PpoConfig config, GptModel policy, GptModel reference, GptModel critic, int batch, int length) {
    double bytes = MemoryEstimate.activationBytes(policy.config(), policy.dataType(), batch, length);
    bytes += MemoryEstimate.activationBytes(reference.config(), reference.dataType(), batch, length);
    if (critic != null) {
      bytes += MemoryEstimate.activationBytes(critic.config(), critic.dataType(), batch, length);
    }
    bytes += MemoryEstimate.decodeCacheBytes(policy.config(), policy.dataType(), batch, length);
    if (config.klEstimator() == KlEstimator.FULL) { // both models' full logits
      bytes += 2.0 * batch * length * policy.config().vocabSize() * MemoryEstimate.elementBytes(policy.dataType());
    }
    bytes += 16.0 * batch * config.maxNewTokens() * Double.BYTES; // the rollout's per-token arrays
    return bytes >= 9.2e18 ? Long.MAX_VALUE : (long) bytes;
  }
}
