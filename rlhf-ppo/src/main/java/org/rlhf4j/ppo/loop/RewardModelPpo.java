package org.rlhf4j.ppo.loop;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.rlhf4j.core.fs.AtomicFiles;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.ppo.PpoCheckpoint;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;
import org.rlhf4j.reward.RewardConfig;
import org.rlhf4j.reward.RewardEvaluation;
import org.rlhf4j.reward.RewardEvaluator;
import org.rlhf4j.reward.RewardResult;
import org.rlhf4j.reward.RewardTrainer;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.reward.data.Ranking;

/**
 * Steps 2 and 3 of InstructGPT's recipe as a {@link PolicyOptimizer}: each round the reward model
 * is trained further (from its current weights) on every ranking so far, then PPO runs {@code
 * ppoStepsPerRound} steps against it with the KL penalty to the frozen reference. The PPO trainer
 * lives across rounds (its step counter, optimiser and KL controller continue). Its state — the
 * reward model ({@code reward/}) and the PPO checkpoint ({@code ppo/}) — is saved with each round.
 */
public final class RewardModelPpo implements PolicyOptimizer {
  private final RewardConfig rewardConfig;
  private final int ppoStepsPerRound;
  private final TransformerRewardModel rewardModel;
  private final Tokenizer tokenizer;
  private final PpoTrainer ppo;
  private final DelegatingListener listener = new DelegatingListener();

  private RewardModelPpo(Builder b) {
    this.rewardConfig = b.rewardConfig;
    this.ppoStepsPerRound = b.ppoStepsPerRound;
    this.rewardModel = b.rewardModel;
    this.tokenizer = b.tokenizer;
    this.ppo = PpoTrainer.builder(b.ppoConfig)
        .policy(b.policy)
        .reference(b.reference)
        .rewardModel(rewardModel)
        .tokenizer(tokenizer)
        .prompts(b.prompts)
        .listener(listener)
        .build();
  }

  /** A builder; every part must be set. */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  public CausalLm policy() {
    return ppo.policy();
  }

  @Override
  public SequenceLimits limits() {
    int max = Math.min(rewardConfig.maxLength(), rewardModel.model().contextLength());
    return new SequenceLimits(max, rewardConfig.addBos(), rewardConfig.appendEos());
  }

  @Override
  public PolicyUpdate improve(List<Ranking> rankings, List<Ranking> heldOut, TrainingListener roundListener) {
    checkArgument(!rankings.isEmpty(), "no rankings to learn from");
    RewardTrainer rt = new RewardTrainer(rewardConfig).withListener(roundListener);
    RewardResult reward = rt.train(rewardModel, tokenizer, rankings, List.of());
    Optional<RewardEvaluation> held = Optional.empty();
    if (!heldOut.isEmpty()) {
      held = Optional.of(RewardEvaluator.evaluate(
          rewardModel, rt.tokenize(heldOut, tokenizer, limits().maxLength()), tokenizer, rewardConfig.promptsPerBatch()));
    }
    ImmutableList<PpoStats> stats = ImmutableList.of();
    if (ppoStepsPerRound > 0) {
      listener.delegate = roundListener;
      try {
        stats = ImmutableList.copyOf(ppo.train(ppoStepsPerRound));
      } finally {
        listener.delegate = Listeners.none();
      }
    }
    return PolicyUpdate.rewardModelPpo(reward, held, stats);
  }

  @Override
  public void save(Path dir) throws IOException {
    Provenance prov = Provenance.of("rlhf-loop", rewardConfig.seed(), rewardConfig.toMap(), "");
    AtomicFiles.publishDirectory(dir, tmp -> rewardModel.writeFiles(tmp.resolve("reward"), prov));
    PpoCheckpoint.save(dir.resolve("ppo"), ppo, null);
  }

  @Override
  public void restore(Path dir) {
    rewardModel.loadFrom(dir.resolve("reward"));
    PpoCheckpoint.restore(dir.resolve("ppo"), ppo);
  }

  /** The reward model being updated. */
  public TransformerRewardModel rewardModel() {
    return rewardModel;
  }

  /** The PPO trainer (its step counter and statistics continue across rounds). */
  public PpoTrainer ppo() {
    return ppo;
  }

  @Override
  public void close() {
    ppo.close();
  }

  /** Forwards PPO's events to the listener of the current round. */
  private static final class DelegatingListener implements TrainingListener {
    private TrainingListener delegate = Listeners.none();

    @Override
    public void onStart(String phase, long totalSteps) {
      delegate.onStart(phase, totalSteps);
    }

    @Override
    public void onStep(Metrics m) {
      delegate.onStep(m);
    }

    @Override
    public void onEvaluation(Metrics m) {
      delegate.onEvaluation(m);
    }

    @Override
    public void onEnd(Metrics m) {
      delegate.onEnd(m);
    }

    @Override
    public boolean stopRequested() {
      return delegate.stopRequested();
    }
  }

  /** Builds a {@link RewardModelPpo}. */
  public static final class Builder {
    private RewardConfig rewardConfig = RewardConfig.builder().build();
    private PpoConfig ppoConfig = PpoConfig.builder().build();
    private int ppoStepsPerRound = 10;
    private CausalLm policy;
    private CausalLm reference;
    private TransformerRewardModel rewardModel;
    private Tokenizer tokenizer;
    private List<String> prompts = List.of();

    private Builder() {}

    /** The reward-model training of each round (default {@code RewardConfig.builder().build()}). */
    public Builder rewardConfig(RewardConfig v) {
      rewardConfig = checkNotNull(v, "rewardConfig");
      return this;
    }

    /** PPO's settings (default {@code PpoConfig.builder().build()}). */
    public Builder ppoConfig(PpoConfig v) {
      ppoConfig = checkNotNull(v, "ppoConfig");
      return this;
    }

    /** PPO steps after each reward-model update (default 10; 0 trains only the reward model). */
    public Builder ppoStepsPerRound(int v) {
      checkArgument(v >= 0, "ppoStepsPerRound must be >= 0, got %s", v);
      ppoStepsPerRound = v;
      return this;
    }

    /** The policy to improve (with a value head). */
    public Builder policy(CausalLm v) {
      policy = checkNotNull(v, "policy");
      return this;
    }

    /** The frozen SFT model (KL reference). */
    public Builder reference(CausalLm v) {
      reference = checkNotNull(v, "reference");
      return this;
    }

    /** The reward model, updated in place each round. */
    public Builder rewardModel(TransformerRewardModel v) {
      rewardModel = checkNotNull(v, "rewardModel");
      return this;
    }

    /** The tokenizer of the policy, the reward model and the prompts. */
    public Builder tokenizer(Tokenizer v) {
      tokenizer = checkNotNull(v, "tokenizer");
      return this;
    }

    /** PPO's prompt pool. */
    public Builder prompts(List<String> v) {
      prompts = List.copyOf(v);
      return this;
    }

    /** The optimiser; {@link IllegalArgumentException} names what is missing. */
    public RewardModelPpo build() {
      checkArgument(policy != null, "policy must be set");
      checkArgument(reference != null, "reference must be set");
      checkArgument(rewardModel != null, "rewardModel must be set");
      checkArgument(tokenizer != null, "tokenizer must be set");
      return new RewardModelPpo(this);
    }
  }
}
