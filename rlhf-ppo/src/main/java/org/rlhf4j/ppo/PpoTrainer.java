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
import java.util.concurrent.atomic.AtomicReference;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.MemoryEstimate;
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
import org.rlhf4j.reward.TransformerRewardModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
  public static final double WARN_APPROX_KL = 1.0;

  /** Without a {@code maxValueLoss} bound, a minibatch value loss above this is reported as a warning. */
  public static final double WARN_VALUE_LOSS = 1e4;

  private static final Logger LOG = LoggerFactory.getLogger(PpoTrainer.class);

  private final PpoConfig config;
  private final CausalLm policy;
  private final CausalLm reference;
  private final CausalLm critic;
  private final RewardModel rewardModel;
  private final Tokenizer tokenizer;
  private final ImmutableList<String> prompts;
  private final SftData ptxData;
  private final TrainingListener listener;
  private final ImmutableList<PpoStepListener> stepListeners;
  private final ImmutableList<CausalLm> owned; // loaded by the builder from a checkpoint; closed with the trainer
  private final Path checkpointDir;
  private final int checkpointEvery;
  private final AdamW optimizer;
  private final KlController kl;
  private final ScoreShaping shaping;
  private long stepCount;
  private long episodes;
  private final AtomicReference<Thread> user = new AtomicReference<>();
  private volatile boolean closed;

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
    this.optimizer = AdamW.over(config.optimizer(), critic == null ? List.of(policy) : List.of(policy, critic));
    this.shaping = new ScoreShaping(config);
    this.kl = config.adaptiveKl()
        ? KlController.adaptive(config.klCoef(), config.targetKl(), config.klHorizon(), config.minKlCoef())
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
    checkArgument(steps >= 1, "steps must be >= 1, got %s", steps);
    enter("train");
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
      PpoStats last = out.get(out.size() - 1);
      listener.onEnd(last.toMetrics());
      return out;
    } finally {
      exit();
    }
  }

  /** One PPO step on {@code rolloutBatchSize} prompts drawn (with the step's seed) from the pool. */
  public PpoStats step() {
    enter("step");
    try {
      checkState(!prompts.isEmpty(), "no prompt pool: give prompts to the builder or call step(prompts)");
      return poolStep();
    } finally {
      exit();
    }
  }

  private PpoStats poolStep() {
    SplittableRandom rng = stepRandom();
    List<String> batch = new ArrayList<>();
    int[] poolIndex = new int[config.rolloutBatchSize()];
    int[] perm = Permutations.random(prompts.size(), rng);
    for (int i = 0; i < config.rolloutBatchSize(); i++) {
      poolIndex[i] = perm[i % perm.length];
      batch.add(prompts.get(poolIndex[i]));
    }
    return run(batch, poolIndex, rng);
  }

  /** One PPO step on {@code batchPrompts} (texts; BOS is added if configured). */
  public PpoStats step(List<String> batchPrompts) {
    checkArgument(batchPrompts != null && !batchPrompts.isEmpty(), "no prompts");
    enter("step");
    try {
      return run(batchPrompts, null, stepRandom());
    } finally {
      exit();
    }
  }

  /**
   * Marks the calling thread as the trainer's user; fails if another thread is inside it, if the
   * call is re-entrant (e.g. from a listener or reward model) or if the trainer is closed.
   */
  void enter(String what) {
    Thread me = Thread.currentThread();
    if (!user.compareAndSet(null, me)) {
      Thread other = user.get();
      if (other == me) {
        throw new IllegalStateException(
            "PpoTrainer." + what + "() was called re-entrantly (from a listener or reward model) while this thread is inside the trainer");
      }
      throw new IllegalStateException(
          "PpoTrainer is not thread-safe: " + what + "() was called on thread \"" + me.getName() + "\" while thread \""
              + (other == null ? "?" : other.getName()) + "\" is using the trainer; use one trainer per thread or synchronise the calls");
    }
    if (closed) {
      user.set(null);
      throw closedError(what);
    }
  }

  void exit() {
    user.set(null);
  }

  /** Whether the current thread is inside the trainer (a step is running on it). */
  boolean isInsideOnThisThread() {
    return user.get() == Thread.currentThread();
  }

  private static IllegalStateException closedError(String what) {
    return new IllegalStateException("PpoTrainer." + what + "(): the trainer has been closed (its optimiser state was freed)");
  }

  private SplittableRandom stepRandom() {
    long k = stepCount + 1;
    return new SplittableRandom(config.seed() * 0x9E3779B97F4A7C15L ^ (k * 0xBF58476D1CE4E5B9L + 0x94D049BB133111EBL));
  }

  /**
   * One step on {@code batchPrompts}; {@code poolIndex[i]} is prompt i's index in the builder's pool
   * (null when the caller gave the prompts).
   */
  private PpoStats run(List<String> batchPrompts, int[] poolIndex, SplittableRandom rng) {
    long t0 = System.nanoTime();
    List<int[]> encoded = encodePrompts(batchPrompts, poolIndex);
    int promptLength = 0;
    for (int[] ids : encoded) {
      promptLength = Math.max(promptLength, ids.length);
    }
    checkMemory(encoded.size(), promptLength + config.maxNewTokens());
    Rollout r = rollout(encoded, rng);
    long t1 = System.nanoTime();
    r = score(r, batchPrompts, poolIndex);
    double beta = kl.beta();
    Map<String, Double> stats;
    List<String> warnings = new ArrayList<>();
    if (r == null) { // every episode had a non-finite score and was dropped: nothing to learn from
      stats = new LinkedHashMap<>();
      stats.put("objective/scores_nonfinite", (double) batchPrompts.size());
      stats.put("objective/kl_coef", beta);
      warnings.add("all " + batchPrompts.size() + " scores were NaN or infinite: no update");
    } else {
      computeAdvantages(r);
      stats = r.stats(beta);
    }
    long t2 = System.nanoTime();
    if (r != null) {
      stats.putAll(optimize(r, rng, warnings));
    }
    long t3 = System.nanoTime();
    if (r != null && r.nonFiniteScores > 0) {
      warnings.add(r.nonFiniteScores + " episode(s) with a NaN or infinite score were dropped");
    }
    if (r != null && r.klClamped > 0) {
      warnings.add(r.klClamped + " response token(s) had their KL estimate clamped to +/-" + KlEstimator.ESTIMATE_CLAMP);
    }
    stepCount++;
    episodes += batchPrompts.size();
    if (r != null) {
      kl.update(stats.get("objective/kl"), r.batchSize());
    }
    stats.put("lr", optimizer.config().schedule().lr(Math.max(1, optimizer.stepCount())));
    stats.put("episode", (double) episodes);
    stats.put("warnings", (double) warnings.size());
    stats.put("time/rollout", (t1 - t0) / 1e9);
    stats.put("time/scoring", (t2 - t1) / 1e9);
    stats.put("time/training", (t3 - t2) / 1e9);
    stats.put("time/tokens_per_second", (r == null ? 0 : r.tokens()) / ((t3 - t0) / 1e9));
    if (!warnings.isEmpty()) {
      LOG.warn("PPO step {}: {}", stepCount, String.join("; ", warnings));
    }
    PpoStats s = new PpoStats(stepCount, ImmutableMap.copyOf(stats),
        r == null ? ImmutableList.of() : StepTexts.completions(batchPrompts, r, tokenizer));
    listener.onStep(s.toMetrics());
    stepListeners.forEach(sl -> sl.onPpoStep(s));
    if (checkpointDir != null && stepCount % checkpointEvery == 0) {
      // an application's own tokenizer cannot be saved; the checkpoint is then written without it
      PpoCheckpoint.write(checkpointDir, this, Tokenizers.canSave(tokenizer) ? tokenizer : null);
    }
    return s;
  }

  /** The prompts' token ids; a prompt that cannot fit is an error naming it (and its pool index). */
  private List<int[]> encodePrompts(List<String> batchPrompts, int[] poolIndex) {
    List<int[]> encoded = new ArrayList<>(batchPrompts.size());
    for (int i = 0; i < batchPrompts.size(); i++) {
      String text = batchPrompts.get(i);
      checkArgument(text != null, "prompt %s of the batch is null", i);
      int[] ids = tokenizer.encodePrompt(text, config.addBos());
      String which = poolIndex == null ? "prompt " + i + " of the batch" : "prompt " + poolIndex[i] + " of the pool";
      checkPromptFits(which, text, ids.length, policy.contextLength(), config.maxNewTokens());
      encoded.add(ids);
    }
    return encoded;
  }

  private static void checkPromptFits(String which, String text, int tokens, int ctx, int maxNewTokens) {
    if (tokens == 0) {
      throw new RlhfException(which + " (" + quote(text) + ") encodes to no tokens");
    }
    if (tokens + maxNewTokens > ctx) {
      throw new RlhfException(
          which + " (" + quote(text) + ") has " + tokens + " tokens; with maxNewTokens " + maxNewTokens + " it needs "
              + (tokens + maxNewTokens) + " positions, more than the context length " + ctx + " (at most "
              + (ctx - maxNewTokens) + " prompt tokens fit)");
    }
  }

  private static String quote(String text) {
    String t = text.length() > 80 ? text.substring(0, 77) + "..." : text;
    return "\"" + t.replace("\n", "\\n") + "\"";
  }

  /** Refuses a batch whose activations cannot fit in memory, naming the estimate and the limit. */
  private void checkMemory(int batch, int length) {
    checkMemory(config, policy, reference, critic, batch, length, 0);
  }

  private static void checkMemory(PpoConfig config, CausalLm policy, CausalLm reference, CausalLm critic, int batch, int length, long extra) {
    long bytes = estimateBytes(config, policy, reference, critic, batch, length);
    MemoryEstimate.check(
        "PPO with rolloutBatchSize " + batch + " and sequences of " + length + " tokens (policy " + policy + ")",
        bytes > Long.MAX_VALUE - extra ? Long.MAX_VALUE : bytes + extra,
        "lower rolloutBatchSize or maxNewTokens");
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

  // 1. Rollout: sample a response per prompt.
  private Rollout rollout(List<int[]> encoded, SplittableRandom rng) {
    TokenBatch prompts = TokenBatch.leftPadded(encoded, tokenizer.padId());
    return new Rollout(
        Generator.generate(policy, prompts, config.sampling(tokenizer.eosId()), rng, tokenizer.padId()), tokenizer.eosId());
  }

  // 2. Score: log-probs of policy and reference, values, reward-model scores, per-token rewards.
  // Returns the rollout without the episodes of non-finite scores (null if none is left).
  private Rollout score(Rollout r, List<String> batchPrompts, int[] poolIndex) {
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
    if (config.klEstimator() == KlEstimator.FULL) {
      r.kl = FullKl.perToken(policyLogits, rp.logits(), p, r.length, temp);
      for (int i = 0; i < r.batchSize(); i++) {
        for (int t = 0; t < r.length[i]; t++) {
          r.klClamped += Math.abs(r.kl[i][t]) >= KlEstimator.ESTIMATE_CLAMP ? 1 : 0;
        }
      }
    } else {
      r.kl = r.perTokenKl(config.klEstimator());
    }
    INDArray scored = rewardModel.score(r.sequences, p);
    if (scored == null || scored.length() != r.batchSize()) {
      throw new RlhfException(
          "the reward model " + describe(rewardModel) + " returned " + (scored == null ? "null" : scored.length() + " scores")
              + " for " + r.batchSize() + " sequences");
    }
    r.rawScores = scored.toDoubleVector();
    List<Integer> keep = new ArrayList<>();
    for (int i = 0; i < r.batchSize(); i++) {
      if (Double.isFinite(r.rawScores[i])) {
        keep.add(i);
      } else if (config.nonFiniteScores() == NonFiniteScores.FAIL) {
        String which = poolIndex == null ? "prompt " + i + " of the batch" : "prompt " + poolIndex[i] + " of the pool";
        throw new RlhfException(
            "the reward model " + describe(rewardModel) + " scored episode " + i + " of step " + (stepCount + 1) + " "
                + r.rawScores[i] + " (" + which + ": " + quote(batchPrompts.get(i)) + "; response "
                + quote(tokenizer.decode(r.response(i))) + "); NaN and infinite scores would poison the score statistics"
                + " and the update: fix the reward model, or set PpoConfig.nonFiniteScores(SKIP) to drop such episodes");
      }
    }
    if (keep.size() < r.batchSize()) {
      int dropped = r.batchSize() - keep.size();
      if (keep.isEmpty()) {
        return null;
      }
      r = r.select(keep.stream().mapToInt(Integer::intValue).toArray());
      r.nonFiniteScores = dropped;
    }
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
    return r;
  }

  private static String describe(RewardModel rm) {
    String s = String.valueOf(rm);
    return s.startsWith(rm.getClass().getName() + "@") ? rm.getClass().getName() : rm.getClass().getSimpleName() + " " + s;
  }

  // 3. Advantages: GAE over response tokens, whitened.
  private void computeAdvantages(Rollout r) {
    Gae.Result g = Gae.compute(r.rewards, r.values, r.length, config.gamma(), config.lam());
    r.advantages = Whitening.whiten(g.advantages(), r.length, true);
    r.returns = g.returns();
  }

  // 4. Optimise: PPO epochs over shuffled minibatches.
  private Map<String, Double> optimize(Rollout r, SplittableRandom rng, List<String> warnings) {
    int b = r.batchSize();
    int p = r.promptLength;
    int width = p + r.steps;
    MinibatchStats acc = new MinibatchStats();
    double maxApproxKl = 0;
    double maxValueLoss = 0;
    double maxRatio = 0;
    epochs:
    for (int epoch = 0; epoch < config.ppoEpochs(); epoch++) {
      int[] perm = Permutations.random(b, rng);
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
        maxApproxKl = Math.max(maxApproxKl, pl.approxKl());
        maxValueLoss = Math.max(maxValueLoss, vl.loss());
        maxRatio = Math.max(maxRatio, pl.meanRatio());
        MinibatchStats.Skip skip = MinibatchStats.Skip.NONE;
        if (config.ratioThreshold() > 0 && pl.meanRatio() > config.ratioThreshold()) {
          skip = MinibatchStats.Skip.RATIO; // TRL's ratio_threshold
        } else if ((config.maxApproxKl() > 0 && pl.approxKl() > config.maxApproxKl())
            || (config.maxValueLoss() > 0 && vl.loss() > config.maxValueLoss())) {
          skip = MinibatchStats.Skip.BOUND;
        }
        StepOutcome o = skip == MinibatchStats.Skip.NONE ? optimizer.step(loss) : null;
        acc.add(pl, vl, ent.value(), ptxLoss, o, skip);
        if (config.earlyStopTargetKl() > 0 && pl.policyKl() > 1.5 * config.earlyStopTargetKl()) {
          acc.earlyStopped = true; // TRL: stop when mean(logp_old - logp) > 1.5 target_kl
          break epochs;
        }
      }
    }
    policy.zeroGradients(); // gradients of a skipped minibatch must not linger
    if (critic != null) {
      critic.zeroGradients();
    }
    if (acc.skippedRatio() > 0) {
      warnings.add(acc.skippedRatio() + " minibatch(es) skipped: mean ratio up to " + fmt(maxRatio) + " > ratioThreshold "
          + config.ratioThreshold());
    }
    if (acc.skippedBounds() > 0) {
      warnings.add(acc.skippedBounds() + " minibatch(es) skipped by maxApproxKl " + config.maxApproxKl() + " / maxValueLoss "
          + config.maxValueLoss() + " (approx-KL up to " + fmt(maxApproxKl) + ", value loss up to " + fmt(maxValueLoss) + ")");
    }
    if (acc.skippedNonFinite() > 0) {
      warnings.add(acc.skippedNonFinite() + " update(s) skipped: NaN or infinite loss or gradient");
    }
    if (config.maxApproxKl() == 0 && maxApproxKl > WARN_APPROX_KL) {
      warnings.add("approx-KL of a minibatch reached " + fmt(maxApproxKl) + " nats (the learning rate may be too high; bound"
          + " updates with PpoConfig.maxApproxKl)");
    }
    if (config.maxValueLoss() == 0 && maxValueLoss > WARN_VALUE_LOSS) {
      warnings.add("value loss reached " + fmt(maxValueLoss) + " (scores of magnitude up to " + fmt(maxAbs(r.scores))
          + "; bound them with scoreClip or scoreScaling, or skip such updates with PpoConfig.maxValueLoss)");
    }
    return acc.averages();
  }

  private static String fmt(double v) {
    return String.format(java.util.Locale.ROOT, "%.4g", v);
  }

  private static double maxAbs(double[] xs) {
    double m = 0;
    for (double x : xs) {
      m = Math.max(m, Math.abs(x));
    }
    return m;
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
    return closed;
  }

  RunningMoments scoreMoments() {
    return shaping.moments();
  }

  void restoreCounters(long steps, long episodeCount) {
    this.stepCount = steps;
    this.episodes = episodeCount;
  }

  /**
   * Frees the optimiser state; idempotent. The models belong to the caller, except a policy or critic
   * the builder loaded from a checkpoint ({@link Builder#resumeFrom}), which the trainer closes here.
   * Fails if another thread is running a step; afterwards every use is an {@link IllegalStateException}.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    enter("close");
    try {
      closed = true;
      optimizer.close();
      owned.forEach(CausalLm::close);
    } finally {
      exit();
    }
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
      CausalLm givenPolicy = policy;
      CausalLm givenCritic = critic;
      owned.clear();
      try {
        if (policy == null) {
          policy = org.rlhf4j.core.io.ModelCheckpoint.loadAny(resumeDir.resolve("policy"), reference.options()).model();
          owned.add(policy);
        }
        if (critic == null && java.nio.file.Files.isDirectory(resumeDir.resolve("critic"))) {
          critic = org.rlhf4j.core.io.ModelCheckpoint.loadAny(resumeDir.resolve("critic"), reference.options()).model();
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
      int longest = 0;
      for (int i = 0; i < prompts.size(); i++) {
        String text = prompts.get(i);
        checkArgument(text != null, "prompt %s of the pool is null", i);
        int n = tokenizer.encodePrompt(text, config.addBos()).length;
        checkPromptFits("prompt " + i + " of the pool", text, n, ctx, config.maxNewTokens());
        longest = Math.max(longest, n);
      }
      if (!prompts.isEmpty()) { // before the optimiser's moments are allocated
        long optimizerBytes = MemoryEstimate.parameterBytes(policy, 2)
            + (critic == null ? 0 : MemoryEstimate.parameterBytes(critic, 2));
        checkMemory(config, policy, reference, critic, config.rolloutBatchSize(), longest + config.maxNewTokens(), optimizerBytes);
      }
      PpoTrainer t = new PpoTrainer(this);
      return t;
    }
  }
}
