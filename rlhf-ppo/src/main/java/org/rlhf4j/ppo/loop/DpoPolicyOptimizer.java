package org.rlhf4j.ppo.loop;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.dpo.DpoConfig;
import org.rlhf4j.reward.dpo.DpoTrainer;

/**
 * DPO in place of reward model + PPO in {@link RlhfLoop}: each round, people's new rankings join the
 * earlier ones, become preference pairs, and the {@link DpoTrainer} trains the policy on all of them
 * (continuing from its current weights, against the frozen reference, with a fresh optimiser). No
 * reward model, no value head, no sampling during training. The policy is saved with each round
 * ({@code policy/}); give the trainer no checkpoints of its own.
 */
public final class DpoPolicyOptimizer implements PolicyOptimizer {
  private final DpoTrainer trainer;

  private DpoPolicyOptimizer(DpoTrainer trainer) {
    this.trainer = trainer;
  }

  /** DPO each round with {@code trainer}'s configuration, policy, reference and tokenizer. */
  public static DpoPolicyOptimizer of(DpoTrainer trainer) {
    return new DpoPolicyOptimizer(checkNotNull(trainer, "trainer"));
  }

  @Override
  public CausalLm policy() {
    return trainer.policy();
  }

  @Override
  public SequenceLimits limits() {
    DpoConfig config = trainer.config();
    return new SequenceLimits(trainer.maxSequenceLength(), config.addBos(), config.appendEos());
  }

  @Override
  public PolicyUpdate improve(List<Ranking> rankings, List<Ranking> heldOut, TrainingListener listener) {
    checkArgument(!rankings.isEmpty(), "no rankings to learn from");
    return PolicyUpdate.dpo(trainer.withListener(listener).train(rankings, heldOut));
  }

  @Override
  public void save(Path dir) {
    DpoConfig config = trainer.config();
    ModelCheckpoint.save(dir.resolve("policy"), trainer.policy(), Provenance.of(DpoTrainer.PHASE, config.seed(), config.toMap(), "sft"),
        Map.of("kind", "policy"), null);
  }

  @Override
  public void restore(Path dir) {
    ModelCheckpoint.loadInto(dir.resolve("policy"), trainer.policy());
  }

  @Override
  public void close() {
    // the models are the caller's; DPO's optimiser state lives only within a round
  }
}
