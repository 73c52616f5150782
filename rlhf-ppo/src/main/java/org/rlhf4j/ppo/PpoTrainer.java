package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Permutations;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.RewardModel;
import org.rlhf4j.reward.TransformerRewardModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PPO for RLHF (Ziegler et al. 2019; Ouyang et al. 2022) with TRL's recipe, as a thin trainer over
 * the RL parts. One {@link #step}:
 *
 * <ol>
 *   <li>rollout — {@link RolloutCollector}: sample a response per prompt with the KV-cached
 *       generator; the policy's and the frozen reference's per-token log-probabilities (at the
 *       sampling temperature), the values, the per-token KL ({@link KlEstimator}) and the reward
 *       model's score, as an immutable {@link Rollout};
 *   <li>advantages — {@link PpoBatch}: scores shaped ({@link ScoreShaping}), per-token rewards
 *       {@code -beta KL_t} plus the score at the last response token ({@code beta} from the {@link
 *       KlController}), GAE ({@link Gae}), whitened;
 *   <li>optimise — {@link PpoUpdate}: {@code ppoEpochs} passes over shuffled minibatches of the
 *       clipped policy loss, clipped value loss times {@code vfCoef}, optional entropy bonus and
 *       PPO-ptx term ({@link PpoLosses}); non-finite updates are skipped;
 *   <li>report — statistics with TRL's names, the KL controller's update, periodic checkpoints.
 * </ol>
 *
 * Rollouts are sampled in this process as one batch; with {@link Builder#rolloutSource} each prompt is
 * seeded on its own and rolled out by a {@link RolloutSource} ({@link RolloutSource#PER_PROMPT} here, or
 * a distributed one such as rlhf-spark's), with the same statistics wherever it runs.
 *
 * <p>The value function is the policy's scalar head, or a separate critic. The reference model is never
 * updated. Every random choice of step {@code k} comes from a generator seeded by {@code (seed, k)},
 * so a run resumed from a checkpoint repeats an uninterrupted one exactly.
 *
 * <p>Safeguards: a NaN or infinite score fails the step naming the reward model and the prompt, or
 * (with {@link NonFiniteScores#SKIP}) drops the episode; per-token KL estimates and log-ratios are
 * clamped; a minibatch whose mean ratio exceeds {@code ratioThreshold} (or whose approx-KL or value
 * loss exceeds the configured bound) is not applied; unusual steps are reported in the statistics
 * ({@code warnings}) and logged. The trainer is not thread-safe: a call while another thread is
 * inside it, or any use after {@link #close()}, is an {@link IllegalStateException}.
 */
public final class PpoTrainer implements AutoCloseable {
  /** The phase name reported to listeners. */
  public static final String PHASE = "ppo";

  /** Without a {@code maxApproxKl} bound, a minibatch approx-KL above this is reported as a warning. */
  public static final double WARN_APPROX_KL = PpoUpdate.WARN_APPROX_KL;

  /** Without a {@code maxValueLoss} bound, a minibatch value loss above this is reported as a warning. */
  public static final double WARN_VALUE_LOSS = PpoUpdate.WARN_VALUE_LOSS;

  private static final Logger LOG = LoggerFactory.getLogger(PpoTrainer.class);

  private final PpoConfig config;
  private final CausalLm policy;
  private final CausalLm reference;
  private final CausalLm critic; // null: the policy's value head
  private final Tokenizer tokenizer;
  private final ImmutableList<String> prompts;
  private final PromptEncoder encoder;
  private final RolloutCollector collector;
  private final RolloutSource rolloutSource; // null: the whole step as one batch from the step's random stream
  private final ScoreShaping shaping;
  private final KlController kl;
  private final AdamW optimizer;
  private final PpoUpdate update;
  private final PpoState state;
  private final TrainingListener listener;
  private final ImmutableList<PpoStepListener> stepListeners;
  private final ImmutableList<CausalLm> owned; // loaded by the builder from a checkpoint; closed with the trainer
  private final Path checkpointDir;
  private final int checkpointEvery;
  private final TrainerGuard guard = new TrainerGuard("PpoTrainer");
  private long stepCount;
  private long episodes;

  private PpoTrainer(Builder b) {
    this.config = b.config;
    this.policy = b.policy;
    this.reference = b.reference;
    this.critic = b.critic;
    this.tokenizer = b.tokenizer;
    this.prompts = ImmutableList.copyOf(b.prompts);
    this.encoder = new PromptEncoder(tokenizer, config.addBos(), policy.contextLength(), config.maxNewTokens());
    this.collector = RolloutCollector.builder()
        .policy(policy)
        .reference(reference)
        .values(critic == null ? policy : critic)
        .rewardModel(b.rewardModel)
        .tokenizer(tokenizer)
        .sampling(config.sampling(tokenizer.eosId()))
        .temperature(config.temperature())
        .klEstimator(config.klEstimator())
        .build();
    this.rolloutSource = b.rolloutSource;
    this.shaping = new ScoreShaping(config);
    this.kl = config.adaptiveKl()
        ? KlController.adaptive(config.klCoef(), config.targetKl(), config.klHorizon(), config.minKlCoef())
        : KlController.fixed(config.klCoef());
    this.optimizer = AdamW.over(config.optimizer(), critic == null ? List.of(policy) : List.of(policy, critic));
    this.update = new PpoUpdate(config, policy, critic, optimizer, b.ptxData, tokenizer.padId());
    this.state = new PpoState(config, policy, critic, optimizer, kl, shaping.moments());
    List<TrainingListener> all = new ArrayList<>(b.listeners);
    all.add(b.warnings);
    this.listener = Listeners.of(all);
    this.stepListeners = ImmutableList.copyOf(b.stepListeners);
    this.owned = ImmutableList.copyOf(b.owned);
    this.checkpointDir = b.checkpointDir;
    this.checkpointEvery = b.checkpointEvery;
  }

  /** A builder for a trainer with {@code config}. */
  public static Builder builder(PpoConfig config) {
    return new Builder(config);
  }

  /**
   * Runs {@code steps} PPO steps on prompts drawn from the builder's prompt pool, fewer if a
   * listener asks to stop ({@link TrainingListener#stopRequested()}).
   */
  public List<PpoStats> train(int steps) {
    checkArgument(steps >= 1, "steps must be >= 1, got %s", steps);
    guard.enter("train");
    try {
      checkState(!prompts.isEmpty(), "no prompt pool: give prompts to the builder or call step(prompts)");
      listener.onStart(PHASE, stepCount + steps);
      List<PpoStats> out = new ArrayList<>();
      for (int i = 0; i < steps; i++) {
        out.add(poolStep());
        if (listener.stopRequested()) {
          break; // a listener (e.g. EarlyStopping) ended training
        }
      }
      listener.onEnd(out.get(out.size() - 1).toMetrics());
      return out;
    } finally {
      guard.exit();
    }
  }

  /** One PPO step on {@code rolloutBatchSize} prompts drawn (with the step's seed) from the pool. */
  public PpoStats step() {
    guard.enter("step");
    try {
      checkState(!prompts.isEmpty(), "no prompt pool: give prompts to the builder or call step(prompts)");
      return poolStep();
    } finally {
      guard.exit();
    }
  }

  /** One PPO step on {@code batchPrompts} (texts; BOS is added if configured). */
  public PpoStats step(List<String> batchPrompts) {
    checkArgument(batchPrompts != null && !batchPrompts.isEmpty(), "no prompts");
    guard.enter("step");
    try {
      return run(batchPrompts, null, TrainerGuard.stepRandom(config.seed(), stepCount + 1));
    } finally {
      guard.exit();
    }
  }

  private PpoStats poolStep() {
    SplittableRandom rng = TrainerGuard.stepRandom(config.seed(), stepCount + 1);
    List<String> batch = new ArrayList<>();
    int[] poolIndex = new int[config.rolloutBatchSize()];
    int[] perm = Permutations.random(prompts.size(), rng);
    for (int i = 0; i < config.rolloutBatchSize(); i++) {
      poolIndex[i] = perm[i % perm.length];
      batch.add(prompts.get(poolIndex[i]));
    }
    return run(batch, poolIndex, rng);
  }

  /**
   * One step on {@code batchPrompts}; {@code poolIndex[i]} is prompt i's index in the builder's pool
   * (null when the caller gave the prompts).
   */
  private PpoStats run(List<String> batchPrompts, int[] poolIndex, SplittableRandom rng) {
    long t0 = System.nanoTime();
    // 1. rollout: sample, log-probs, values, KL, scores
    List<int[]> encoded = encoder.encode(batchPrompts, poolIndex);
    int promptLength = encoded.stream().mapToInt(ids -> ids.length).max().orElse(0);
    PpoMemory.check(config, policy, reference, critic, encoded.size(), promptLength + config.maxNewTokens(), 0);
    Rollout collected;
    if (rolloutSource == null) {
      collected = collector.collect(encoded, rng);
    } else {
      long[] seeds = new long[encoded.size()]; // one per prompt, drawn before the update's permutations
      for (int i = 0; i < seeds.length; i++) {
        seeds[i] = rng.nextLong();
      }
      collected = rolloutSource.collect(collector, encoded, 1, seeds);
      checkState(collected.batchSize() == encoded.size(), "the rollout source returned %s rollouts for %s prompts",
          collected.batchSize(), encoded.size());
      checkState(collected.hasEntropy() && collected.hasValues(),
          "the rollout source returned a rollout without %s: PPO needs the policy's entropies and the values",
          collected.hasEntropy() ? "values" : "entropies");
    }
    long t1 = System.nanoTime();
    // 2. rewards and advantages, without the episodes of non-finite scores (null if none is left)
    double beta = kl.beta();
    PpoBatch batch = learnable(collected, batchPrompts, poolIndex, beta);
    List<String> warnings = new ArrayList<>();
    Map<String, Double> stats;
    if (batch == null) { // every episode had a non-finite score and was dropped: nothing to learn from
      stats = new LinkedHashMap<>();
      stats.put("objective/scores_nonfinite", (double) batchPrompts.size());
      stats.put("objective/kl_coef", beta);
      warnings.add("all " + batchPrompts.size() + " scores were NaN or infinite: no update");
    } else {
      stats = batch.stats(beta);
    }
    long t2 = System.nanoTime();
    // 3. optimise
    if (batch != null) {
      stats.putAll(update.run(batch, rng, warnings));
    }
    long t3 = System.nanoTime();
    // 4. report, adapt beta, checkpoint
    if (batch != null && batch.droppedNonFinite > 0) {
      warnings.add(batch.droppedNonFinite + " episode(s) with a NaN or infinite score were dropped");
    }
    if (batch != null && collected.klClamped > 0) {
      warnings.add(collected.klClamped + " response token(s) had their KL estimate clamped to +/-" + KlEstimator.ESTIMATE_CLAMP);
    }
    stepCount++;
    episodes += batchPrompts.size();
    if (batch != null) {
      kl.update(stats.get("objective/kl"), batch.rollout.batchSize());
    }
    stats.put("lr", optimizer.config().schedule().lr(Math.max(1, optimizer.stepCount())));
    stats.put("episode", (double) episodes);
    stats.put("warnings", (double) warnings.size());
    stats.put("time/rollout", (t1 - t0) / 1e9);
    stats.put("time/scoring", (t2 - t1) / 1e9);
    stats.put("time/training", (t3 - t2) / 1e9);
    stats.put("time/tokens_per_second", (batch == null ? 0 : batch.rollout.tokens()) / ((t3 - t0) / 1e9));
    if (!warnings.isEmpty()) {
      LOG.warn("PPO step {}: {}", stepCount, String.join("; ", warnings));
    }
    PpoStats s = new PpoStats(stepCount, ImmutableMap.copyOf(stats),
        batch == null ? ImmutableList.of() : StepTexts.completions(batchPrompts, batch, tokenizer));
    listener.onStep(s.toMetrics());
    stepListeners.forEach(sl -> sl.onPpoStep(s));
    if (checkpointDir != null && stepCount % checkpointEvery == 0) {
      // an application's own tokenizer cannot be saved; the checkpoint is then written without it
      state.write(checkpointDir, counters(), Tokenizers.canSave(tokenizer) ? tokenizer : null);
    }
    return s;
  }

  /**
   * The rollout as PPO learns from it; an episode with a non-finite score fails the step or (with
   * {@link NonFiniteScores#SKIP}) is dropped; null when every episode was dropped.
   */
  private PpoBatch learnable(Rollout r, List<String> batchPrompts, int[] poolIndex, double beta) {
    int[] keep = r.finiteRows();
    if (keep.length < r.batchSize() && config.nonFiniteScores() == NonFiniteScores.FAIL) {
      int i = 0;
      while (Double.isFinite(r.scores[i])) {
        i++;
      }
      throw new RlhfException(
          "the reward model " + RolloutCollector.describe(collector.rewardModel()) + " scored episode " + i + " of step "
              + (stepCount + 1) + " " + r.scores[i] + " (" + PromptEncoder.name(i, poolIndex) + ": "
              + PromptEncoder.quote(batchPrompts.get(i)) + "; response " + PromptEncoder.quote(tokenizer.decode(r.response(i)))
              + "); NaN and infinite scores would poison the score statistics"
              + " and the update: fix the reward model, or set PpoConfig.nonFiniteScores(SKIP) to drop such episodes");
    }
    if (keep.length == 0) {
      return null;
    }
    int dropped = r.batchSize() - keep.length;
    return PpoBatch.of(dropped > 0 ? r.select(keep) : r, dropped, shaping, beta, config);
  }

  private PpoState.Counters counters() {
    return new PpoState.Counters(stepCount, episodes);
  }

  /** {@link PpoCheckpoint#save}: writes the complete state to {@code dir}, atomically. */
  void save(Path dir, Tokenizer tokenizerOrNull) {
    guard.enter("PpoCheckpoint.save");
    try {
      state.write(dir, counters(), tokenizerOrNull);
    } finally {
      guard.exit();
    }
  }

  /** {@link PpoCheckpoint#restore}: continues from the state in {@code dir}. */
  void restore(Path dir) {
    guard.enter("PpoCheckpoint.restore");
    try {
      PpoState.Counters c = state.read(dir);
      stepCount = c.step();
      episodes = c.episodes();
    } finally {
      guard.exit();
    }
  }

  /** The policy being trained. */
  public CausalLm policy() {
    return policy;
  }

  /** The separate critic, or null when the policy's scalar head is the value function. */
  public CausalLm critic() {
    return critic;
  }

  /** The frozen reference model. */
  public CausalLm reference() {
    return reference;
  }

  /** The configuration. */
  public PpoConfig config() {
    return config;
  }

  /** The KL controller (beta). */
  public KlController klController() {
    return kl;
  }

  /** Completed PPO steps. */
  public long stepCount() {
    return stepCount;
  }

  /** Episodes (sampled responses) so far. */
  public long episodes() {
    return episodes;
  }

  AdamW optimizer() {
    return optimizer;
  }

  /** Whether {@link #close()} has been called. */
  public boolean isClosed() {
    return guard.isClosed();
  }

  RunningMoments scoreMoments() {
    return shaping.moments();
  }

  /**
   * Frees the optimiser state; idempotent. The models belong to the caller, except a policy or critic
   * the builder loaded from a checkpoint ({@link Builder#resumeFrom}), which the trainer closes here.
   * Fails if another thread is running a step; afterwards every use is an {@link IllegalStateException}.
   */
  @Override
  public void close() {
    guard.close(() -> {
      optimizer.close();
      owned.forEach(CausalLm::close);
    });
  }

  /** Builds a {@link PpoTrainer}. */
  public static final class Builder {
    private final PpoConfig config;
    private CausalLm policy;
    private CausalLm reference;
    private CausalLm critic;
    private RewardModel rewardModel;
    private Tokenizer tokenizer;
    private List<String> prompts = List.of();
    private SftData ptxData;
    private Path checkpointDir;
    private int checkpointEvery;
    private final List<TrainingListener> listeners = new ArrayList<>();
    private final List<PpoStepListener> stepListeners = new ArrayList<>();
    private final List<CausalLm> owned = new ArrayList<>();
    private Path resumeDir;
    private PpoWarnings warnings = PpoWarnings.defaults();
    private RolloutSource rolloutSource;

    private Builder(PpoConfig config) {
      this.config = config;
    }

    /** The policy to train; it needs a scalar head unless a critic is given. */
    public Builder policy(CausalLm m) {
      policy = m;
      return this;
    }

    /** The frozen reference (SFT) model; never updated. */
    public Builder reference(CausalLm m) {
      reference = m;
      return this;
    }

    /** A separate value model with a scalar head (e.g. initialised from the reward model). */
    public Builder critic(CausalLm m) {
      critic = m;
      return this;
    }

    /** Any reward model. */
    public Builder rewardModel(RewardModel rm) {
      rewardModel = rm;
      return this;
    }

    /** The tokenizer of policy, reference and prompts. */
    public Builder tokenizer(Tokenizer t) {
      tokenizer = t;
      return this;
    }

    /** The prompt pool {@link #train(int)} draws from. */
    public Builder prompts(List<String> p) {
      prompts = List.copyOf(p);
      return this;
    }

    /**
     * Every {@code every} steps, the trainer's complete state is written to {@code dir} (replacing
     * the previous one atomically) with {@link PpoCheckpoint}; {@link PpoCheckpoint#restore} resumes.
     */
    public Builder checkpoints(Path dir, int every) {
      checkArgument(every >= 1, "checkpoint interval must be >= 1, got %s", every);
      this.checkpointDir = dir;
      this.checkpointEvery = every;
      return this;
    }

    /** Pre-training data for PPO-ptx (used when {@code ptxCoef > 0}). */
    public Builder ptxData(SftData d) {
      ptxData = d;
      return this;
    }

    /**
     * Seeds each prompt's rollout on its own (one seed per prompt, drawn from the step's random
     * stream) and rolls the prompts out with {@code v}, e.g. {@link RolloutSource#PER_PROMPT} in this
     * process or a distributed source (rlhf-spark's); every source gives the same statistics for the
     * same seed and thread count. The source must return the values (of the policy's value head or
     * the critic, {@link RolloutCollector#valueModel()}) and the policy's entropies. Without this the
     * step is sampled as one batch from one stream (faster in one process; other numbers).
     */
    public Builder rolloutSource(RolloutSource v) {
      this.rolloutSource = checkNotNull(v, "rolloutSource");
      return this;
    }

    /** Adds a listener. */
    public Builder listener(TrainingListener l) {
      listeners.add(l);
      return this;
    }

    /**
     * The entropy-collapse and runaway-KL warnings (default {@link PpoWarnings#defaults()}; {@link
     * PpoWarnings#none()} turns them off).
     */
    public Builder warnings(PpoWarnings w) {
      warnings = checkNotNull(w, "warnings");
      return this;
    }

    /** Adds a listener that sees each step's full result, sampled texts included. */
    public Builder stepListener(PpoStepListener l) {
      stepListeners.add(checkNotNull(l, "listener"));
      return this;
    }

    /**
     * Continues the run checkpointed in {@code dir} (by {@link #checkpoints} or {@link
     * PpoCheckpoint#save}) in one call: unless given, the policy and the critic are loaded from the
     * checkpoint (owned and closed by the trainer), and {@link #build()} restores the whole state,
     * so the run goes on exactly as if uninterrupted. The reference, reward model, tokenizer,
     * prompts and configuration are given as for a new run; a configuration that differs from the
     * checkpoint's is an error naming the differing keys.
     */
    public Builder resumeFrom(Path dir) {
      resumeDir = checkNotNull(dir, "dir");
      return this;
    }

    /** The trainer; {@link IllegalArgumentException} names what is missing or inconsistent. */
    public PpoTrainer build() {
      if (resumeDir == null) {
        return buildNew();
      }
      checkArgument(Files.isRegularFile(resumeDir.resolve("trainer_state.json")),
          "%s holds no PPO checkpoint (no trainer_state.json)", resumeDir);
      checkArgument(reference != null, "reference must be set");
      CausalLm givenPolicy = policy;
      CausalLm givenCritic = critic;
      owned.clear();
      try {
        if (policy == null) {
          policy = ModelCheckpoint.loadAny(resumeDir.resolve("policy"), reference.options()).model();
          owned.add(policy);
        }
        if (critic == null && Files.isDirectory(resumeDir.resolve("critic"))) {
          critic = ModelCheckpoint.loadAny(resumeDir.resolve("critic"), reference.options()).model();
          owned.add(critic);
        }
        PpoTrainer t = buildNew();
        try {
          t.restore(resumeDir);
        } catch (RuntimeException e) {
          t.close(); // closes the loaded models too
          owned.clear();
          throw e;
        }
        return t;
      } catch (RuntimeException e) {
        owned.forEach(CausalLm::close);
        throw e;
      } finally {
        policy = givenPolicy;
        critic = givenCritic;
        owned.clear();
      }
    }

    private PpoTrainer buildNew() {
      checkArgument(policy != null, "policy must be set");
      checkArgument(reference != null, "reference must be set");
      checkArgument(policy != reference, "reference must be a separate (frozen) model, not the policy itself");
      checkArgument(rewardModel != null, "rewardModel must be set");
      checkArgument(tokenizer != null, "tokenizer must be set");
      checkArgument(
          critic != null || policy.hasScalarHead(),
          "the policy has no value head: build it with withNewValueHead() or give a critic");
      checkArgument(critic == null || critic.hasScalarHead(), "the critic needs a scalar head");
      checkArgument(!policy.isClosed(), "the policy has been closed");
      checkArgument(!reference.isClosed(), "the reference has been closed");
      checkArgument(critic == null || !critic.isClosed(), "the critic has been closed");
      int vocab = policy.vocabSize();
      checkArgument(
          reference.vocabSize() == vocab && tokenizer.vocabSize() <= vocab,
          "policy, reference and tokenizer vocabularies disagree: the policy has %s tokens, the reference %s, the tokenizer %s"
              + " (policy and reference must be equal, the tokenizer at most the policy's)",
          vocab,
          reference.vocabSize(),
          tokenizer.vocabSize());
      checkArgument(
          critic == null || critic.vocabSize() == vocab,
          "the critic's vocabulary (%s tokens) differs from the policy's (%s)",
          critic == null ? 0 : critic.vocabSize(),
          vocab);
      if (rewardModel instanceof TransformerRewardModel trm) {
        int rmVocab = trm.vocabSize();
        checkArgument(
            rmVocab == vocab,
            "the reward model (TransformerRewardModel %s) has a vocabulary of %s tokens, the policy %s: they must share the"
                + " tokenizer (a smaller reward model cannot read the policy's tokens, a larger one was trained on another tokenizer)",
            trm.model(),
            rmVocab,
            vocab);
      }
      int ctx = policy.contextLength();
      checkArgument(
          config.maxNewTokens() < ctx,
          "maxNewTokens %s leaves no room for a prompt in the policy's context length %s (it must be at most %s)",
          config.maxNewTokens(),
          ctx,
          ctx - 1);
      checkArgument(config.ptxCoef() == 0 || ptxData != null, "ptxCoef > 0 needs ptxData");
      int longest = new PromptEncoder(tokenizer, config.addBos(), ctx, config.maxNewTokens()).checkPool(prompts);
      if (!prompts.isEmpty()) { // before the optimiser's moments are allocated
        PpoMemory.check(config, policy, reference, critic, config.rolloutBatchSize(), longest + config.maxNewTokens(),
            PpoMemory.optimizerBytes(policy, critic));
      }
      return new PpoTrainer(this);
    }
  }
}
