package org.rlhf4j.ppo.loop;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.dpo.DpoConfig;
import org.rlhf4j.reward.dpo.DpoResult;
import org.rlhf4j.reward.dpo.DpoTrainer;

/**
 * DPO in place of reward model + PPO in {@link RlhfLoop}: each round, people's new rankings join the
 * earlier ones, become preference pairs, and {@link DpoTrainer} trains the policy on all of them
 * (continuing from its current weights, against the frozen reference). No reward model, no value
 * head, no sampling during training. The policy is saved with each round ({@code policy/}).
 */
public final class DpoPolicyOptimizer implements PolicyOptimizer {
  private final DpoConfig config;
  private final CausalLm policy;
  private final CausalLm reference;
  private final Tokenizer tokenizer;

  private DpoPolicyOptimizer(Builder b) {
    this.config = b.config;
    this.policy = b.policy;
    this.reference = b.reference;
    this.tokenizer = b.tokenizer;
  }

  /** A builder for DPO with {@code config} each round. */
  public static Builder builder(DpoConfig config) {
    return new Builder(checkNotNull(config, "config"));
  }

  @Override
  public CausalLm policy() {
    return policy;
  }

  @Override
  public SequenceLimits limits() {
    int max = Math.min(config.maxLength(), Math.min(policy.contextLength(), reference.contextLength()));
    return new SequenceLimits(max, config.addBos(), config.appendEos());
  }

  @Override
  public PolicyUpdate improve(List<Ranking> rankings, List<Ranking> heldOut, TrainingListener listener) {
    checkArgument(!rankings.isEmpty(), "no rankings to learn from");
    DpoTrainer t = DpoTrainer.builder(config).policy(policy).reference(reference).tokenizer(tokenizer).listener(listener).build();
    DpoResult r = t.train(rankings, heldOut);
    return PolicyUpdate.dpo(r);
  }

  @Override
  public void save(Path dir) {
    ModelCheckpoint.save(dir.resolve("policy"), policy, Provenance.of(DpoTrainer.PHASE, config.seed(), config.toMap(), "sft"),
        Map.of("kind", "policy"), null);
  }

  @Override
  public void restore(Path dir) {
    ModelCheckpoint.loadInto(dir.resolve("policy"), policy);
  }

  @Override
  public void close() {
    // the models are the caller's; DPO's optimiser state lives only within a round
  }

  /** Builds a {@link DpoPolicyOptimizer}. */
  public static final class Builder {
    private final DpoConfig config;
    private CausalLm policy;
    private CausalLm reference;
    private Tokenizer tokenizer;

    private Builder(DpoConfig config) {
      this.config = config;
    }

    /** The policy to improve, in place (no value head needed). */
    public Builder policy(CausalLm v) {
      policy = checkNotNull(v, "policy");
      return this;
    }

    /** The frozen reference of the DPO loss (usually the SFT model; a different object from the policy). */
    public Builder reference(CausalLm v) {
      reference = checkNotNull(v, "reference");
      return this;
    }

    /** The tokenizer of the policy and the rankings. */
    public Builder tokenizer(Tokenizer v) {
      tokenizer = checkNotNull(v, "tokenizer");
      return this;
    }

    /** The optimiser; {@link IllegalArgumentException} names what is missing. */
    public DpoPolicyOptimizer build() {
      checkArgument(policy != null, "policy must be set");
      checkArgument(reference != null, "reference must be set");
      checkArgument(tokenizer != null, "tokenizer must be set");
      checkArgument(policy != reference, "policy and reference are the same model: the reference must stay frozen");
      return new DpoPolicyOptimizer(this);
    }
  }
}
