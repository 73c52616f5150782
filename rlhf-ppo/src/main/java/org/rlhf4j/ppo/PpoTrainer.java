package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.GptModel;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.TokenLogProbs;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.StepOutcome;
import org.rlhf4j.core.sft.SequenceBatch;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftLoss;
import org.rlhf4j.core.sft.TokenizedSequence;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Permutations;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.RewardModel;
import org.rlhf4j.reward.TextRewardModel;

/**
 * PPO for RLHF (Ziegler et al. 2019; Ouyang et al. 2022) with TRL's recipe. One {@link #step}:
 *
 * <ol>
 *   <li>rollout — sample responses from the policy with the KV-cached generator;
 *   <li>score — the reward model scores each (prompt, response); policy and frozen reference give
 *       per-token log-probabilities at the sampling temperature; per-token rewards are {@code -beta
 *       KL_t}, plus the score at the last response token;
 *   <li>advantages — GAE over the response tokens, whitened;
 *   <li>optimise — {@code ppoEpochs} passes over shuffled minibatches: clipped policy loss, clipped
 *       value loss times {@code vfCoef}, optional entropy bonus and PPO-ptx term {@code ptxCoef * LM
 *       loss}; non-finite updates are skipped.
 * </ol>
 *
 * The value function is the policy's scalar head, or a separate critic. The reference model is never
 * updated. Every random choice of step {@code k} comes from a generator seeded by {@code (seed, k)},
 * so a run resumed from a checkpoint repeats an uninterrupted one exactly.
 */
public final class PpoTrainer implements AutoCloseable {
  /** The phase name reported to listeners. */
  public static final String PHASE = "ppo";

  private final PpoConfig config;
  private final GptModel policy;
  private final GptModel reference;
  private final GptModel critic;
  private final RewardModel rewardModel;
  private final Tokenizer tokenizer;
  private final ImmutableList<String> prompts;
  private final SftData ptxData;
  private final TrainingListener listener;
  private final ImmutableList<PpoStepListener> stepListeners;
  private final ImmutableList<GptModel> owned; // loaded by the builder from a checkpoint; closed with the trainer
  private final Path checkpointDir;
  private final int checkpointEvery;
  private final AdamW optimizer;
  private final KlController kl;
  private final ScoreShaping shaping;
  private long stepCount;
  private long episodes;

  private PpoTrainer(Builder b) {
    this.config = b.config;
    this.policy = b.policy;
    this.reference = b.reference;
    this.critic = b.critic;
    this.rewardModel = b.rewardModel instanceof TextRewardModel t && t.tokenizer().isEmpty()
        ? t.withTokenizer(b.tokenizer) // a text reward decodes with the policy's tokenizer
        : b.rewardModel;
    this.tokenizer = b.tokenizer;
    this.prompts = ImmutableList.copyOf(b.prompts);
    this.ptxData = b.ptxData;
    List<TrainingListener> all = new ArrayList<>(b.listeners);
    all.add(b.warnings);
    this.listener = Listeners.of(all);
    this.stepListeners = ImmutableList.copyOf(b.stepListeners);
    this.owned = ImmutableList.copyOf(b.owned);
    this.checkpointDir = b.checkpointDir;
    this.checkpointEvery = b.checkpointEvery;
    this.optimizer = new AdamW(config.optimizer(), critic == null ? List.of(policy) : List.of(policy, critic));
    this.shaping = new ScoreShaping(config);
    this.kl = config.adaptiveKl()
        ? KlController.adaptive(config.klCoef(), config.targetKl(), config.klHorizon())
        : KlController.fixed(config.klCoef());
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
    checkState(!prompts.isEmpty(), "no prompt pool: give prompts to the builder or call step(prompts)");
    listener.onStart(PHASE, stepCount + steps);
    List<PpoStats> out = new ArrayList<>();
    for (int i = 0; i < steps; i++) {
      out.add(step());
      if (listener.stopRequested()) {
        break; // a listener (e.g. EarlyStopping) ended training
      }
    }
    PpoStats last = out.get(out.size() - 1);
    listener.onEnd(last.toMetrics());
    return out;
  }

  /** One PPO step on {@code rolloutBatchSize} prompts drawn (with the step's seed) from the pool. */
  public PpoStats step() {
    checkState(!prompts.isEmpty(), "no prompt pool: give prompts to the builder or call step(prompts)");
    SplittableRandom rng = stepRandom();
    List<String> batch = new ArrayList<>();
    int[] perm = Permutations.random(prompts.size(), rng);
    for (int i = 0; i < config.rolloutBatchSize(); i++) {
      batch.add(prompts.get(perm[i % perm.length]));
    }
    return run(batch, rng);
  }

  /** One PPO step on {@code batchPrompts} (texts; BOS is added if configured). */
  public PpoStats step(List<String> batchPrompts) {
    checkArgument(!batchPrompts.isEmpty(), "no prompts");
    return run(batchPrompts, stepRandom());
  }

  private SplittableRandom stepRandom() {
    long k = stepCount + 1;
    return new SplittableRandom(config.seed() * 0x9E3779B97F4A7C15L ^ (k * 0xBF58476D1CE4E5B9L + 0x94D049BB133111EBL));
  }

  private PpoStats run(List<String> batchPrompts, SplittableRandom rng) {
    long t0 = System.nanoTime();
    Rollout r = rollout(batchPrompts, rng);
    long t1 = System.nanoTime();
    score(r);
    computeAdvantages(r);
    long t2 = System.nanoTime();
    Map<String, Double> train = optimize(r, rng);
    long t3 = System.nanoTime();
    double beta = kl.beta();
    Map<String, Double> stats = r.stats(beta);
    stats.putAll(train);
    stepCount++;
    episodes += r.batchSize();
    kl.update(stats.get("objective/kl"), r.batchSize());
    stats.put("lr", optimizer.config().schedule().lr(Math.max(1, optimizer.stepCount())));
    stats.put("episode", (double) episodes);
    stats.put("time/rollout", (t1 - t0) / 1e9);
    stats.put("time/scoring", (t2 - t1) / 1e9);
    stats.put("time/training", (t3 - t2) / 1e9);
    stats.put("time/tokens_per_second", r.tokens() / ((t3 - t0) / 1e9));
    PpoStats s = new PpoStats(stepCount, ImmutableMap.copyOf(stats), StepTexts.completions(batchPrompts, r, tokenizer));
    listener.onStep(s.toMetrics());
    stepListeners.forEach(sl -> sl.onPpoStep(s));
    if (checkpointDir != null && stepCount % checkpointEvery == 0) {
      // an application's own tokenizer cannot be saved; the checkpoint is then written without it
      PpoCheckpoint.save(checkpointDir, this, Tokenizers.canSave(tokenizer) ? tokenizer : null);
    }
    return s;
  }

  // 1. Rollout: sample a response per prompt.
  private Rollout rollout(List<String> batchPrompts, SplittableRandom rng) {
    int ctx = policy.config().contextLength();
    List<int[]> encoded = new ArrayList<>(batchPrompts.size());
    for (int i = 0; i < batchPrompts.size(); i++) {
      int[] ids = tokenizer.encodePrompt(batchPrompts.get(i), config.addBos());
      if (ids.length == 0 || ids.length + config.maxNewTokens() > ctx) {
        throw new RlhfException(
            "prompt " + i + " has " + ids.length + " tokens; with maxNewTokens " + config.maxNewTokens()
                + " it must be between 1 and the context length " + ctx);
      }
      encoded.add(ids);
    }
    TokenBatch prompts = TokenBatch.leftPadded(encoded, tokenizer.padId());
    return new Rollout(
        Generator.generate(policy, prompts, config.sampling(tokenizer.eosId()), rng, tokenizer.padId()), tokenizer.eosId());
  }

  // 2. Score: log-probs of policy and reference, values, reward-model scores, per-token rewards.
  private void score(Rollout r) {
    int p = r.promptLength;
    int n = r.steps;
    double temp = config.temperature();
    ForwardPass pp = policy.forward(r.sequences);
    TokenLogProbs lp = pp.tokenLogProbs(temp);
    r.logProbs = ResponseTokens.gather(lp.logProbs(), p, n);
    r.entropy = ResponseTokens.gather(lp.entropy(), p, n);
    INDArray policyLogits = config.klEstimator() == KlEstimator.FULL ? pp.logits() : null;
    if (critic == null) {
      r.values = ResponseTokens.gather(pp.values(), p, n);
    } else {
      r.values = ResponseTokens.gather(critic.forward(r.sequences).values(), p, n);
    }
    ForwardPass rp = reference.forward(r.sequences);
    r.refLogProbs = ResponseTokens.gather(rp.tokenLogProbs(temp).logProbs(), p, n);
    r.kl = config.klEstimator() == KlEstimator.FULL
        ? FullKl.perToken(policyLogits, rp.logits(), p, r.length, temp)
        : r.perTokenKl(config.klEstimator());
    r.rawScores = rewardModel.score(r.sequences, p).toDoubleVector();
    checkState(r.rawScores.length == r.batchSize(), "the reward model returned %s scores for %s sequences", r.rawScores.length, r.batchSize());
    r.scores = shaping.apply(r.rawScores, r.hasEos);
    double beta = kl.beta();
    r.rewards = new double[r.batchSize()][n];
    for (int i = 0; i < r.batchSize(); i++) {
      for (int t = 0; t < r.length[i]; t++) {
        r.rewards[i][t] = -beta * r.kl[i][t]; // r_t = -beta KL_t
      }
      r.rewards[i][r.length[i] - 1] += r.scores[i]; // + RM score at the last response token
    }
    if (config.whitenRewards()) {
      r.rewards = Whitening.whiten(r.rewards, r.length, false);
    }
  }

  // 3. Advantages: GAE over response tokens, whitened.
  private void computeAdvantages(Rollout r) {
    Gae.Result g = Gae.compute(r.rewards, r.values, r.length, config.gamma(), config.lam());
    r.advantages = Whitening.whiten(g.advantages(), r.length, true);
    r.returns = g.returns();
  }

  // 4. Optimise: PPO epochs over shuffled minibatches.
  private Map<String, Double> optimize(Rollout r, SplittableRandom rng) {
    int b = r.batchSize();
    int p = r.promptLength;
    int width = p + r.steps;
    MinibatchStats acc = new MinibatchStats();
    for (int epoch = 0; epoch < config.ppoEpochs(); epoch++) {
      int[] perm = Permutations.random(b, rng);
      double epochKl = 0;
      int updates = 0;
      for (int start = 0; start < b; start += config.miniBatchSize()) {
        int[] idx = Arrays.copyOfRange(perm, start, Math.min(b, start + config.miniBatchSize()));
        int[] len = ResponseTokens.rows(r.length, idx);
        TokenBatch sub = r.sequences.select(idx);
        policy.zeroGradients();
        if (critic != null) {
          critic.zeroGradients();
        }
        ForwardPass pass = policy.forward(sub);
        TokenLogProbs lp = pass.tokenLogProbs(config.temperature());
        double[][] newLogp = ResponseTokens.gather(lp.logProbs(), p, r.steps);
        double[][] newEnt = ResponseTokens.gather(lp.entropy(), p, r.steps);
        ForwardPass criticPass = critic == null ? pass : critic.forward(sub);
        double[][] newValues = ResponseTokens.gather(criticPass.values(), p, r.steps);
        PpoLosses.PolicyLoss pl =
            PpoLosses.policy(newLogp, ResponseTokens.rows(r.logProbs, idx), ResponseTokens.rows(r.advantages, idx), len, config.clipRange());
        PpoLosses.ValueLoss vl =
            PpoLosses.value(newValues, ResponseTokens.rows(r.values, idx), ResponseTokens.rows(r.returns, idx), len, config.clipRangeValue());
        PpoLosses.Mean ent = PpoLosses.mean(newEnt, len);
        double loss = pl.loss() + config.vfCoef() * vl.loss() - config.entropyCoef() * ent.value();
        INDArray gLogp = ResponseTokens.scatter(pl.gradLogProbs(), p, width - 1, policy.dataType());
        INDArray gEnt = config.entropyCoef() > 0
            ? ResponseTokens.scatter(ent.grad(), p, width - 1, policy.dataType()).muli(-config.entropyCoef())
            : null;
        INDArray gVal = ResponseTokens.scatter(vl.gradValues(), p, width, policy.dataType()).muli(config.vfCoef());
        if (critic == null) {
          pass.backward(new OutputGradients(gLogp, gEnt, gVal, null));
        } else {
          pass.backward(new OutputGradients(gLogp, gEnt, null, null));
          criticPass.backward(OutputGradients.ofValues(gVal));
        }
        double ptxLoss = config.ptxCoef() > 0 && ptxData != null ? ptxUpdate(rng) : Double.NaN;
        if (!Double.isNaN(ptxLoss)) {
          loss += config.ptxCoef() * ptxLoss;
        }
        StepOutcome o = optimizer.step(loss);
        acc.add(pl, vl, ent.value(), ptxLoss, o);
        epochKl += pl.approxKl();
        updates++;
      }
      if (config.earlyStopApproxKl() > 0 && epochKl / updates > config.earlyStopApproxKl()) {
        acc.earlyStopped = true;
        break;
      }
    }
    return acc.averages();
  }

  /** PPO-ptx: adds {@code ptxCoef * grad(LM loss)} on a pre-training batch; returns the LM loss. */
  private double ptxUpdate(SplittableRandom rng) {
    List<TokenizedSequence> seqs = new ArrayList<>();
    for (int i = 0; i < config.ptxBatchSize(); i++) {
      seqs.add(ptxData.get(rng.nextInt(ptxData.size())));
    }
    SequenceBatch batch = SequenceBatch.collate(seqs, tokenizer.padId());
    ForwardPass pass = policy.forward(batch.tokens());
    SftLoss.Result lm = SftLoss.compute(pass.tokenLogProbs(1.0).logProbs(), batch.targetMask());
    pass.backward(OutputGradients.ofLogProbs(lm.gradLogProbs().muli(config.ptxCoef())));
    return lm.loss();
  }

  /** The policy being trained. */
  public GptModel policy() {
    return policy;
  }

  /** The separate critic, or null when the policy's scalar head is the value function. */
  public GptModel critic() {
    return critic;
  }

  /** The frozen reference model. */
  public GptModel reference() {
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

  RunningMoments scoreMoments() {
    return shaping.moments();
  }

  void restoreCounters(long steps, long episodeCount) {
    this.stepCount = steps;
    this.episodes = episodeCount;
  }

  /**
   * Frees the optimiser state. The models belong to the caller, except a policy or critic the
   * builder loaded from a checkpoint ({@link Builder#resumeFrom}), which the trainer closes here.
   */
  @Override
  public void close() {
    optimizer.close();
    owned.forEach(GptModel::close);
  }

  /** Builds a {@link PpoTrainer}. */
  public static final class Builder {
    private final PpoConfig config;
    private GptModel policy;
    private GptModel reference;
    private GptModel critic;
    private RewardModel rewardModel;
    private Tokenizer tokenizer;
    private List<String> prompts = List.of();
    private SftData ptxData;
    private Path checkpointDir;
    private int checkpointEvery;
    private final List<TrainingListener> listeners = new ArrayList<>();
    private final List<PpoStepListener> stepListeners = new ArrayList<>();
    private final List<GptModel> owned = new ArrayList<>();
    private Path resumeDir;
    private PpoWarnings warnings = PpoWarnings.defaults();

    private Builder(PpoConfig config) {
      this.config = config;
    }

    /** The policy to train; it needs a scalar head unless a critic is given. */
    public Builder policy(GptModel m) {
      policy = m;
      return this;
    }

    /** The frozen reference (SFT) model; never updated. */
    public Builder reference(GptModel m) {
      reference = m;
      return this;
    }

    /** A separate value model with a scalar head (e.g. initialised from the reward model). */
    public Builder critic(GptModel m) {
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
      checkArgument(java.nio.file.Files.isRegularFile(resumeDir.resolve("trainer_state.json")),
          "%s holds no PPO checkpoint (no trainer_state.json)", resumeDir);
      checkArgument(reference != null, "reference must be set");
      GptModel givenPolicy = policy;
      GptModel givenCritic = critic;
      owned.clear();
      try {
        if (policy == null) {
          policy = org.rlhf4j.core.io.ModelCheckpoint.load(resumeDir.resolve("policy"), reference.options()).model();
          owned.add(policy);
        }
        if (critic == null && java.nio.file.Files.isDirectory(resumeDir.resolve("critic"))) {
          critic = org.rlhf4j.core.io.ModelCheckpoint.load(resumeDir.resolve("critic"), reference.options()).model();
          owned.add(critic);
        }
        PpoTrainer t = buildNew();
        try {
          PpoCheckpoint.restore(resumeDir, t);
        } catch (RuntimeException e) {
          t.close(); // closes the loaded models too
          owned.clear();
          throw e;
        }
        return t;
      } catch (RuntimeException e) {
        owned.forEach(GptModel::close);
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
          critic != null || policy.config().scalarHead(),
          "the policy has no value head: build it with GptModel.withNewScalarHead(seed) or give a critic");
      checkArgument(critic == null || critic.config().scalarHead(), "the critic needs a scalar head");
      checkArgument(
          reference.config().vocabSize() == policy.config().vocabSize() && tokenizer.vocabSize() <= policy.config().vocabSize(),
          "policy, reference and tokenizer vocabularies disagree");
      checkArgument(config.ptxCoef() == 0 || ptxData != null, "ptxCoef > 0 needs ptxData");
      return new PpoTrainer(this);
    }
  }
}
