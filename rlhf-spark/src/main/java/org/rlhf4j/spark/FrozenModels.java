package org.rlhf4j.spark;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.TransformerRewardModel;

/**
 * Broadcast handles of a run's models and tokenizer, and their executor-side rebuilding through
 * {@link ExecutorModels} (version 0: they do not change during the run). Serialised into tasks (the
 * handles only; the bytes travel as broadcasts).
 */
final class FrozenModels implements java.io.Serializable {
  private static final long serialVersionUID = 1L;
  final String runId;
  final Broadcast<byte[]> reward; // may be null
  final Broadcast<byte[]> policy; // may be null
  final Broadcast<byte[]> tokenizer;
  final long bytes;

  private FrozenModels(String runId, Broadcast<byte[]> reward, Broadcast<byte[]> policy, Broadcast<byte[]> tokenizer,
      long bytes) {
    this.runId = runId;
    this.reward = reward;
    this.policy = policy;
    this.tokenizer = tokenizer;
    this.bytes = bytes;
  }

  /** Checks the sizes, serialises and broadcasts; {@code policy} may be null. */
  static FrozenModels broadcast(JavaSparkContext sc, String runId, TransformerRewardModel rm, CausalLm policy,
      Tokenizer tok, long maxBytes) {
    ModelBytes.checkSize("reward model", rm.model(), maxBytes);
    if (policy != null) {
      ModelBytes.checkSize("policy", policy, maxBytes);
    }
    byte[] r = ModelBytes.of(rm);
    byte[] p = policy == null ? null : ModelBytes.of(policy);
    byte[] t = TokenizerBytes.of(tok);
    return new FrozenModels(runId, sc.broadcast(r), p == null ? null : sc.broadcast(p), sc.broadcast(t),
        r.length + (p == null ? 0 : p.length) + t.length);
  }

  /** A tokenizer that closes as a no-op, to share through {@link ExecutorModels}. */
  record CachedTokenizer(Tokenizer tokenizer) implements AutoCloseable {
    @Override
    public void close() {}
  }

  ExecutorModels.Lease<TransformerRewardModel> rewardModel() {
    return ExecutorModels.borrow(new ExecutorModels.Key(runId, "reward", 0),
        () -> ModelBytes.toRewardModel(reward.value(), "reward model"));
  }

  ExecutorModels.Lease<CausalLm> policy() {
    return ExecutorModels.borrow(new ExecutorModels.Key(runId, "policy", 0),
        () -> ModelBytes.toModel(policy.value(), "policy"));
  }

  ExecutorModels.Lease<CachedTokenizer> tokenizer() {
    return ExecutorModels.borrow(new ExecutorModels.Key(runId, "tokenizer", 0),
        () -> new CachedTokenizer(TokenizerBytes.toTokenizer(tokenizer.value())));
  }

  void destroy() {
    reward.destroy();
    tokenizer.destroy();
    if (policy != null) {
      policy.destroy();
    }
    ExecutorModels.release(runId);
  }
}
