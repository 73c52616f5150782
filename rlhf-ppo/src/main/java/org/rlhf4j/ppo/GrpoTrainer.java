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
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.StepOutcome;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.Permutations;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.RewardModel;

/**
 * Critic-free RL from a reward model: GRPO (Shao et al. 2024, DeepSeekMath) or RLOO (Ahmadian et al.
 * 2024), chosen by {@link GrpoConfig}. Each step takes {@code promptsPerStep} prompts from the pool
 * in turn, samples {@code numGenerations} completions of each ({@link RolloutCollector}), turns the
 * group's scores into advantages ({@link Advantages}) and runs {@code numIterations} passes of the
 * clipped surrogate over minibatches ({@link GrpoLosses}), with the KL to the reference either as
 * {@code beta} times the k3 estimate in the loss (GRPO) or subtracted from the score before the
 * advantages (RLOO, TRL's {@code kl_in_reward}). No value head. Not thread-safe: one thread at a
 * time; use after {@link #close()} throws.
 */
public final class GrpoTrainer implements AutoCloseable {
  private final GrpoConfig config;
  private final CausalLm policy;
  private final CausalLm reference;
  private final Tokenizer tokenizer;
  private final ImmutableList<String> prompts;
  private final TrainingListener listener;
  private final PromptEncoder encoder;
  private final RolloutCollector collector;
  private final RolloutSource rolloutSource; // null: the whole step as one batch from the step's random stream
  private final AdamW optimizer;
  private long stepCount;
  private long episodes;
  private final TrainerGuard guard = new TrainerGuard("GrpoTrainer");
  private final RlState state;
  private final Path checkpointDir; // null: no periodic checkpoints
  private final int checkpointEvery;

  private GrpoTrainer(Builder b) {
    this.config = b.config;
    this.policy = b.policy;
    this.reference = b.reference;
    this.tokenizer = b.tokenizer;
    this.prompts = ImmutableList.copyOf(b.prompts);
    this.listener = Listeners.of(b.listeners);
    this.encoder = new PromptEncoder(tokenizer, config.addBos(), policy.contextLength(), config.maxNewTokens());
    this.collector = RolloutCollector.builder()
        .policy(policy)
        .reference(reference)
        .rewardModel(b.rewardModel)
        .tokenizer(tokenizer)
        .sampling(config.sampling(tokenizer.eosId()))
        .temperature(config.temperature())
        .klEstimator(config.rewardKlEstimator())
        .build();
    this.optimizer = new AdamW(config.optimizer(), policy);
    this.rolloutSource = b.rolloutSource;
    this.state = new RlState("GRPO", phase(), 1, config.seed(), config::toMap, List.of("policy"), List.of(policy), optimizer);
    this.checkpointDir = b.checkpointDir;
    this.checkpointEvery = b.checkpointEvery;
  }

  /** A builder for a trainer with {@code config}. */
  public static Builder builder(GrpoConfig config) {
    return new Builder(checkNotNull(config, "config"));
  }

  /** {@code "rloo"} for leave-one-out advantages, else {@code "grpo"}: the phase name of the metrics. */
  public String phase() {
    return config.advantage() == GrpoConfig.Advantage.LEAVE_ONE_OUT ? "rloo" : "grpo";
  }

  /** Runs {@code steps} steps and returns their statistics. */
  public List<GrpoStats> train(int steps) {
    checkArgument(steps >= 0, "steps must be >= 0, got %s", steps);
    guard.enter("train");
    try {
      listener.onStart(phase(), steps);
      List<GrpoStats> out = new ArrayList<>(steps);
      for (int i = 0; i < steps; i++) {
        out.add(run());
        if (listener.stopRequested()) {
          break;
        }
      }
      listener.onEnd(out.isEmpty() ? Metrics.of(phase(), stepCount, Map.of())
          : out.get(out.size() - 1).toMetrics(phase()));
      return out;
    } finally {
      guard.exit();
    }
  }

  /** One step on the next {@code promptsPerStep} prompts of the pool. */
  public GrpoStats step() {
    guard.enter("step");
    try {
      return run();
    } finally {
      guard.exit();
    }
  }

  private GrpoStats run() {
    long t0 = System.nanoTime();
    SplittableRandom rng = TrainerGuard.stepRandom(config.seed(), stepCount + 1);
    int g = config.numGenerations();
    int np = config.promptsPerStep();
    List<int[]> encoded = new ArrayList<>(np * g);
    for (int i = 0; i < np; i++) {
      int poolIndex = (int) ((stepCount * np + i) % prompts.size());
      int[] ids = encoder.encode("prompt " + poolIndex + " of the pool", prompts.get(poolIndex));
      for (int j = 0; j < g; j++) {
        encoded.add(ids); // [np * G]: the G samples of a prompt are contiguous
      }
    }
    Rollout r;
    if (rolloutSource == null) {
      r = collector.collect(encoded, rng);
    } else {
      long[] seeds = new long[np]; // one per prompt (its group of G samples), drawn before the update's permutations
      for (int i = 0; i < np; i++) {
        seeds[i] = rng.nextLong();
      }
      r = rolloutSource.collect(collector, encoded, g, seeds);
      checkState(r.batchSize() == encoded.size(), "the rollout source returned %s rollouts for %s prompts",
          r.batchSize(), encoded.size());
    }
    long t1 = System.nanoTime();
    double[] scores = r.scores(); // [B]
    for (int i = 0; i < scores.length; i++) {
      if (!Double.isFinite(scores[i])) {
        throw new RlhfException("the reward model " + RolloutCollector.describe(collector.rewardModel()) + " scored sequence " + i
            + " of the rollout " + scores[i] + "; NaN and infinite scores would poison the advantages and the update");
      }
    }
    double[] seqKl = r.sequenceKl(); // [B]
    double[] rewards = scores.clone();
    if (config.klInReward()) {
      for (int i = 0; i < rewards.length; i++) {
        rewards[i] -= config.beta() * seqKl[i]; // RLOO: r = score - beta sum_t KL_t
      }
    }
    double[] adv = config.advantage() == GrpoConfig.Advantage.LEAVE_ONE_OUT
        ? Advantages.leaveOneOut(rewards, g)
        : Advantages.groupNormalized(rewards, g, config.advantageEps());
    Map<String, Double> stats = new LinkedHashMap<>();
    rolloutStats(r, scores, seqKl, rewards, g, stats);
    stats.putAll(optimize(r, adv, rng));
    long t2 = System.nanoTime();
    stepCount++;
    episodes += r.batchSize();
    stats.put("lr", optimizer.config().schedule().lr(Math.max(1, optimizer.stepCount())));
    stats.put("episode", (double) episodes);
    stats.put("time/rollout", (t1 - t0) / 1e9);
    stats.put("time/training", (t2 - t1) / 1e9);
    GrpoStats s = new GrpoStats(stepCount, ImmutableMap.copyOf(stats));
    listener.onStep(s.toMetrics(phase()));
    if (checkpointDir != null && stepCount % checkpointEvery == 0) {
      writeState(checkpointDir);
    }
    return s;
  }

  private void rolloutStats(Rollout r, double[] scores, double[] seqKl, double[] rewards, int g, Map<String, Double> m) {
    int b = r.batchSize();
    double score = 0;
    double kl = 0;
    double reward = 0;
    int eos = 0;
    boolean[] hasEos = r.hasEos();
    for (int i = 0; i < b; i++) {
      score += scores[i];
      kl += seqKl[i];
      reward += rewards[i];
      eos += hasEos[i] ? 1 : 0;
    }
    double groupStd = 0; // TRL's reward_std: the mean over groups of the group's standard deviation
    for (int start = 0; start < b; start += g) {
      double mean = 0;
      for (int j = 0; j < g; j++) {
        mean += rewards[start + j];
      }
      mean /= g;
      double ss = 0;
      for (int j = 0; j < g; j++) {
        ss += (rewards[start + j] - mean) * (rewards[start + j] - mean);
      }
      groupStd += Math.sqrt(ss / (g - 1));
    }
    m.put("objective/kl", kl / b);
    m.put("objective/scores", score / b);
    m.put("objective/rlhf_reward", score / b - config.beta() * kl / b);
    m.put("reward", reward / b);
    m.put("reward_std", groupStd / (b / g));
    m.put("completion_length", (double) r.tokens() / b);
    m.put("val/num_eos_tokens", (double) eos);
  }

  private Map<String, Double> optimize(Rollout r, double[] adv, SplittableRandom rng) {
    int b = r.batchSize();
    int p = r.promptLength();
    int n = r.steps();
    int width = p + n;
    int[] length = r.length();
    double[][] old = r.logProbs();
    double[][] ref = r.refLogProbs();
    double[][] advTok = GrpoLosses.broadcast(adv, length, n); // [B][N]
    double lossBeta = config.klInReward() ? 0 : config.beta();
    TokenBatch seq = r.sequences();
    double loss = 0;
    double policyLoss = 0;
    double klLoss = 0;
    double clip = 0;
    double approxKl = 0;
    double ratio = 0;
    int count = 0;
    int skipped = 0;
    for (int it = 0; it < config.numIterations(); it++) {
      int[] perm = Permutations.random(b, rng);
      for (int start = 0; start < b; start += config.miniBatchSize()) {
        int[] idx = Arrays.copyOfRange(perm, start, Math.min(b, start + config.miniBatchSize()));
        int[] len = ResponseTokens.rows(length, idx);
        policy.zeroGradients();
        ForwardPass pass = policy.forward(seq.select(idx));
        double[][] logp = ResponseTokens.gather(pass.tokenLogProbs(config.temperature()).logProbs(), p, n);
        GrpoLosses.Loss l = GrpoLosses.policy(logp, ResponseTokens.rows(old, idx), ResponseTokens.rows(ref, idx),
            ResponseTokens.rows(advTok, idx), len, config.clipRange(), lossBeta);
        INDArray gLogp = ResponseTokens.scatter(l.gradLogProbs(), p, width - 1, policy.dataType());
        pass.backward(OutputGradients.ofLogProbs(gLogp));
        StepOutcome o = optimizer.step(l.loss());
        skipped += o.applied() ? 0 : 1;
        loss += l.loss();
        policyLoss += l.policyLoss();
        klLoss += l.kl();
        clip += l.surrogate().clipFraction();
        approxKl += l.surrogate().approxKl();
        ratio += l.surrogate().meanRatio();
        count++;
      }
    }
    policy.zeroGradients();
    Map<String, Double> m = new LinkedHashMap<>();
    m.put("loss/total_avg", loss / count);
    m.put("loss/policy_avg", policyLoss / count);
    m.put("kl", klLoss / count); // TRL GRPO's "kl": the mean per-token k3 in the loss
    m.put("policy/clipfrac_avg", clip / count);
    m.put("policy/approxkl_avg", approxKl / count);
    m.put("val/ratio", ratio / count);
    m.put("optimizer/skipped_nonfinite", (double) skipped);
    return m;
  }

  /**
   * Writes the trainer's complete state to {@code dir}, atomically: the policy (with the tokenizer
   * when it can be saved), AdamW's moments and counters, the step and episode counters and the
   * configuration. {@link Builder#resumeFrom} continues from it exactly.
   *
   * @throws CheckpointException if a parameter or moment is NaN or infinite (nothing is written)
   */
  public void saveCheckpoint(Path dir) {
    checkNotNull(dir, "dir");
    guard.enter("saveCheckpoint");
    try {
      writeState(dir);
    } finally {
      guard.exit();
    }
  }

  private void writeState(Path dir) {
    Map<String, Object> fields = new LinkedHashMap<>();
    fields.put("step", stepCount);
    fields.put("episode", episodes);
    state.write(dir, fields, Tokenizers.canSave(tokenizer) ? tokenizer : null);
  }

  private void restore(Path dir) {
    Map<String, Object> fields = state.read(dir, RlState::savedConfig);
    Path file = dir.resolve(RlState.STATE);
    stepCount = RlState.number(fields, "step", file).longValue();
    episodes = RlState.number(fields, "episode", file).longValue();
  }

  /** The configuration. */
  public GrpoConfig config() {
    return config;
  }

  /** The policy being trained. */
  public CausalLm policy() {
    return policy;
  }

  /** The frozen reference. */
  public CausalLm reference() {
    return reference;
  }

  /** Steps taken. */
  public long stepCount() {
    return stepCount;
  }

  /** Completions sampled so far. */
  public long episodes() {
    return episodes;
  }

  /** Whether {@link #close()} was called. */
  public boolean isClosed() {
    return guard.isClosed();
  }

  /** Releases the optimiser's state; the models stay the caller's. Later calls throw. Idempotent. */
  @Override
  public void close() {
    guard.close(optimizer::close);
  }

  /** A builder of a {@link GrpoTrainer}; {@link #build()} names a missing or bad part. */
  public static final class Builder {
    private final GrpoConfig config;
    private CausalLm policy;
    private CausalLm reference;
    private RewardModel rewardModel;
    private Tokenizer tokenizer;
    private List<String> prompts = List.of();
    private final List<TrainingListener> listeners = new ArrayList<>();
    private RolloutSource rolloutSource;
    private Path checkpointDir;
    private int checkpointEvery;
    private Path resumeDir;

    private Builder(GrpoConfig config) {
      this.config = config;
    }

    /** The model to train (no value head needed). */
    public Builder policy(CausalLm v) {
      this.policy = checkNotNull(v, "policy");
      return this;
    }

    /** The frozen reference (a different object from the policy). */
    public Builder reference(CausalLm v) {
      this.reference = checkNotNull(v, "reference");
      return this;
    }

    /** The reward model scoring each completion. */
    public Builder rewardModel(RewardModel v) {
      this.rewardModel = checkNotNull(v, "rewardModel");
      return this;
    }

    /** The tokenizer of prompts and completions. */
    public Builder tokenizer(Tokenizer v) {
      this.tokenizer = checkNotNull(v, "tokenizer");
      return this;
    }

    /** The prompt pool, taken in turn. */
    public Builder prompts(List<String> v) {
      checkNotNull(v, "prompts");
      for (int i = 0; i < v.size(); i++) {
        checkArgument(v.get(i) != null, "prompt %s is null", i);
      }
      this.prompts = List.copyOf(v);
      return this;
    }

    /**
     * Seeds each prompt's group on its own (from the step's random stream) and rolls the groups out
     * with {@code v}, e.g. {@link RolloutSource#PER_PROMPT} in this process or a distributed source;
     * every source gives the same statistics for the same seed and thread count. Without this the
     * step is sampled as one batch from one stream (faster in one process; other numbers).
     */
    public Builder rolloutSource(RolloutSource v) {
      this.rolloutSource = checkNotNull(v, "rolloutSource");
      return this;
    }

    /** A listener of every step. */
    public Builder listener(TrainingListener v) {
      listeners.add(checkNotNull(v, "listener"));
      return this;
    }

    /**
     * Every {@code every} steps, the trainer's complete state is written to {@code dir} (replacing
     * the previous one atomically), as {@link GrpoTrainer#saveCheckpoint} does.
     */
    public Builder checkpoints(Path dir, int every) {
      checkArgument(every >= 1, "checkpoint interval must be >= 1, got %s", every);
      this.checkpointDir = checkNotNull(dir, "dir");
      this.checkpointEvery = every;
      return this;
    }

    /**
     * Continues the run checkpointed in {@code dir}: {@link #build()} loads the checkpoint's policy
     * weights into the given policy and restores the optimiser and the counters, so the run goes on
     * exactly as if uninterrupted. A configuration that differs from the checkpoint's is an error
     * naming the differing keys.
     */
    public Builder resumeFrom(Path dir) {
      this.resumeDir = checkNotNull(dir, "dir");
      return this;
    }

    /** The trainer. */
    public GrpoTrainer build() {
      checkState(policy != null, "policy is not set");
      checkState(reference != null, "reference is not set");
      checkState(rewardModel != null, "rewardModel is not set");
      checkState(tokenizer != null, "tokenizer is not set");
      checkState(!prompts.isEmpty(), "prompts are not set (or empty)");
      checkArgument(policy != reference, "policy and reference are the same model: the reference must stay frozen"
          + " (pass policy.copy(options) as the policy)");
      checkArgument(!policy.isClosed() && !reference.isClosed(), "policy or reference is closed");
      GrpoTrainer t = new GrpoTrainer(this);
      if (resumeDir != null) {
        try {
          t.restore(resumeDir);
        } catch (RuntimeException e) {
          t.close();
          throw e;
        }
      }
      return t;
    }
  }
}
