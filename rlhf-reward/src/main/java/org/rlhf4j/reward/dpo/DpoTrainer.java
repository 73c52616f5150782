package org.rlhf4j.reward.dpo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.StepOutcome;
import org.rlhf4j.core.sft.SequenceBatch;
import org.rlhf4j.core.sft.TokenizedSequence;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.Permutations;
import org.rlhf4j.core.train.SequenceLogProbs;
import org.rlhf4j.core.train.SupervisedLoop;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.TokenizedRanking;
import org.rlhf4j.reward.data.Ranking;

/**
 * Direct Preference Optimization (Rafailov et al. 2023): trains a policy on human rankings without
 * a reward model or sampling, by minimising {@link DpoLoss} on the log-probabilities of the chosen
 * and rejected responses under the policy and a frozen reference (usually the SFT model). A K-way
 * {@link Ranking} gives its C(K,2) pairs, weighted 1/C(K,2) each, and its K responses share one
 * batch. The reference's log-probabilities are computed once, before the first step, and the
 * reference is never changed. The data order comes from {@link DpoConfig#seed()}, so a run is
 * reproducible.
 *
 * <p>Reports TRL's metrics every step — {@code loss}, {@code rewards/chosen}, {@code
 * rewards/rejected}, {@code rewards/accuracies}, {@code rewards/margins}, {@code logps/chosen},
 * {@code logps/rejected}, plus {@code learning_rate}, {@code grad_norm}, {@code epoch} — and the
 * same under {@code eval/} per evaluation. Sequences are {@code [BOS] prompt response [EOS]}; the
 * response tokens (and EOS) are scored.
 *
 * <pre>{@code
 * DpoTrainer t = DpoTrainer.builder(config).policy(policy).reference(sft).tokenizer(tok).build();
 * DpoResult r = t.train(trainRankings, heldOutRankings);
 * }</pre>
 */
public final class DpoTrainer {
  /** The phase name reported to listeners and written in checkpoints' provenance. */
  public static final String PHASE = "dpo";

  private final DpoConfig config;
  private final CausalLm policy;
  private final CausalLm reference;
  private final Tokenizer tokenizer;
  private final TrainingListener listener;
  private final int maxLength;
  private final Path checkpointDir; // null: no periodic checkpoints
  private final int checkpointEvery;
  private final Path resumeFrom; // null: a fresh run

  private DpoTrainer(Builder b) {
    config = b.config;
    policy = b.policy;
    reference = b.reference;
    tokenizer = b.tokenizer;
    listener = b.listener;
    checkpointDir = b.checkpointDir;
    checkpointEvery = b.checkpointEvery;
    resumeFrom = b.resumeFrom;
    maxLength = Math.min(config.maxLength(), Math.min(policy.contextLength(), reference.contextLength()));
  }

  private DpoTrainer(DpoTrainer t, TrainingListener listener) {
    config = t.config;
    policy = t.policy;
    reference = t.reference;
    tokenizer = t.tokenizer;
    this.listener = listener;
    checkpointDir = t.checkpointDir;
    checkpointEvery = t.checkpointEvery;
    resumeFrom = t.resumeFrom;
    maxLength = t.maxLength;
  }

  /** This trainer, also reporting to {@code extra} (after its own listener). */
  public DpoTrainer withListener(TrainingListener extra) {
    checkNotNull(extra, "extra");
    return new DpoTrainer(this, Listeners.of(listener, extra));
  }

  /** A builder for a trainer with {@code config}. */
  public static Builder builder(DpoConfig config) {
    return new Builder(config);
  }

  /**
   * Trains {@code policy} in place on {@code rankings} against the frozen {@code reference}.
   *
   * @deprecated positional arguments: use {@link #builder} (and, in a feedback loop, {@code
   *     DpoPolicyOptimizer} of rlhf-ppo's {@code RlhfLoop})
   */
  @Deprecated
  public static DpoResult trainOn(DpoConfig config, CausalLm policy, CausalLm reference, Tokenizer tokenizer, List<Ranking> rankings) {
    return builder(config).policy(policy).reference(reference).tokenizer(tokenizer).build().train(rankings, List.of());
  }

  /** The configuration. */
  public DpoConfig config() {
    return config;
  }

  /** The frozen reference. */
  public CausalLm reference() {
    return reference;
  }

  /** The tokenizer of both models. */
  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /** The longest sequence trained on: {@link DpoConfig#maxLength()} capped by both models' context. */
  public int maxSequenceLength() {
    return maxLength;
  }

  /** The policy being trained. */
  public CausalLm policy() {
    return policy;
  }

  /**
   * Trains the policy in place on {@code train}, evaluating on {@code eval} (may be empty) before,
   * every {@link DpoConfig#evalEvery()} steps and after training.
   *
   * @throws org.rlhf4j.core.data.DataFormatException naming a ranking whose prompt + response is
   *     longer than {@link DpoConfig#maxLength()} or either model's context
   */
  public DpoResult train(List<Ranking> train, List<Ranking> eval) {
    checkNotNull(train, "train");
    checkNotNull(eval, "eval");
    checkArgument(!train.isEmpty(), "no training rankings");
    long start = System.nanoTime();
    List<Prepared> tTrain = prepare(train);
    List<Prepared> tEval = prepare(eval);
    int n = tTrain.size();
    int per = Math.min(config.promptsPerBatch(), n);
    long stepsPerEpoch = (n + per - 1) / per;
    long total = config.maxSteps() > 0 ? config.maxSteps() : config.epochs() * stepsPerEpoch;
    int pairs = 0;
    for (Prepared p : tTrain) {
      pairs += p.ranking.k() * (p.ranking.k() - 1) / 2;
    }
    List<Metrics> evals = new ArrayList<>();
    List<DpoEvaluation> initial = new ArrayList<>(1);
    List<Metrics> last = new ArrayList<>(1); // the last step's metrics, as the listeners saw them
    TrainingListener l = Listeners.of(listener, new TrainingListener() {
      @Override
      public void onStep(Metrics m) {
        last.clear();
        last.add(m);
      }
    });
    l.onStart(PHASE, total);
    SupervisedLoop.Task task = new SupervisedLoop.Task() {
      @Override
      public Map<String, Double> step(AdamW opt, int[] indices, double epoch) {
        List<Prepared> chunk = new ArrayList<>(indices.length);
        for (int i : indices) {
          chunk.add(tTrain.get(i));
        }
        Optional<DpoLoss.Result> res = lossAndGradients(chunk);
        Map<String, Double> m = new LinkedHashMap<>();
        StepOutcome o;
        if (res.isPresent()) {
          o = opt.step(res.get().loss());
          m.putAll(statistics(res.get()).toMetrics(""));
        } else {
          o = opt.step(Double.NaN); // counted as skipped; nothing reaches the weights
          m.put("loss", Double.NaN);
        }
        m.put("learning_rate", o.learningRate());
        m.put("grad_norm", o.gradNorm());
        m.put("epoch", epoch);
        m.put("skipped_steps", (double) o.skippedTotal());
        return m;
      }

      @Override
      public void evaluate(long step) {
        DpoEvaluation e = DpoTrainer.this.evaluate(tEval, step, l, evals);
        if (step == 0) {
          initial.add(e);
        }
      }

      @Override
      public void writeModels(Path dir, long step) throws IOException {
        ModelCheckpoint.writeFiles(dir, policy, Provenance.of(PHASE, config.seed(), config.toMap(), null), Map.of("kind", "policy"), null);
      }

      @Override
      public void loadModels(Path dir) {
        ModelCheckpoint.loadInto(dir, policy);
      }
    };
    SupervisedLoop.Plan plan = new SupervisedLoop.Plan(PHASE, PHASE, config.toMap(), List.of(policy), config.optimizer(total), n, per,
        total, config.evalEvery(), !tEval.isEmpty(), config.seed());
    SupervisedLoop.Outcome out =
        SupervisedLoop.run(plan, task, l, new SplittableRandom(config.seed()), checkpointDir, checkpointEvery, resumeFrom);
    long done = out.steps();
    Optional<DpoEvaluation> fin = tEval.isEmpty() ? Optional.empty() : Optional.of(evaluate(tEval, done, l, evals));
    double seconds = (System.nanoTime() - start) / 1e9;
    Map<String, Double> summary = new LinkedHashMap<>();
    summary.put("loss", out.lastLoss());
    summary.put("train_runtime", seconds);
    summary.put("skipped_steps", (double) out.skippedSteps());
    fin.ifPresent(e -> summary.put("eval/rewards/accuracies", e.accuracy()));
    l.onEnd(Metrics.of(PHASE, done, summary));
    return new DpoResult(done, out.skippedSteps(), out.lastLoss(), n, pairs, seconds, last.isEmpty() ? Metrics.of(PHASE, done, Map.of()) : last.get(0),
        initial.stream().findFirst(), fin, ImmutableList.copyOf(evals), ImmutableMap.copyOf(config.toMap()));
  }

  /**
   * Zeroes the policy's gradients, computes the loss of {@code chunk} and adds its parameter
   * gradients; empty (nothing back-propagated) if a policy log-probability is not finite.
   */
  Optional<DpoLoss.Result> lossAndGradients(List<Prepared> chunk) {
    Batch batch = Batch.of(chunk, tokenizer.padId());
    policy.zeroGradients();
    SequenceLogProbs.Pass pass = SequenceLogProbs.forward(policy, batch.sequences, config.reduction());
    double[] logps = pass.values(); // [rows]
    if (!allFinite(logps)) {
      return Optional.empty();
    }
    DpoLoss.Result r = batch.loss(logps, config);
    pass.backward(batch.rowGradients(r));
    return Optional.of(r);
  }

  /** The loss of {@code chunk} as one batch, without gradients (for gradient checks). */
  double lossOf(List<Prepared> chunk) {
    Batch batch = Batch.of(chunk, tokenizer.padId());
    return batch.loss(SequenceLogProbs.compute(policy, batch.sequences, config.reduction()), config).loss();
  }

  /**
   * The DPO statistics of the policy against the reference on {@code rankings}: the implicit reward
   * accuracy, margins, log-probabilities and loss over all their pairs.
   */
  public DpoEvaluation evaluate(List<Ranking> rankings) {
    checkArgument(!rankings.isEmpty(), "no rankings to evaluate");
    return evaluatePrepared(prepare(rankings));
  }

  /**
   * Writes the policy to {@code dir} with {@link ModelCheckpoint} (atomically), its provenance naming
   * this trainer, its configuration and {@code parent} (the reference's stage, e.g. {@code "sft"}),
   * and the final held-out statistics of {@code result} as extra values; the tokenizer is saved with
   * it when {@link Tokenizers#canSave} can write it.
   */
  public void saveCheckpoint(Path dir, DpoResult result, String parent) {
    checkNotNull(dir, "dir");
    checkNotNull(result, "result");
    checkNotNull(parent, "parent");
    Map<String, Object> extra = new LinkedHashMap<>();
    extra.put("steps", result.steps());
    extra.put("train_pairs", result.trainPairs());
    result.finalEval().ifPresent(e -> extra.putAll(e.toMetrics("eval/")));
    ModelCheckpoint.save(
        dir, policy, Provenance.of(PHASE, config.seed(), config.toMap(), parent), extra, Tokenizers.canSave(tokenizer) ? tokenizer : null);
  }

  private DpoEvaluation evaluate(List<Prepared> data, long step, TrainingListener l, List<Metrics> sink) {
    DpoEvaluation e = evaluatePrepared(data);
    Metrics metrics = Metrics.of(PHASE, step, e.toMetrics("eval/"));
    l.onEvaluation(metrics);
    sink.add(metrics);
    return e;
  }

  private DpoEvaluation evaluatePrepared(List<Prepared> data) {
    List<double[]> cols = new ArrayList<>(); // per pair: pc, pr, rc, rr, w
    for (int i = 0; i < data.size(); i += config.promptsPerBatch()) {
      Batch batch = Batch.of(data.subList(i, Math.min(data.size(), i + config.promptsPerBatch())), tokenizer.padId());
      double[] logps = SequenceLogProbs.compute(policy, batch.sequences, config.reduction());
      for (int p = 0; p < batch.winners.length; p++) {
        cols.add(new double[] {
          logps[batch.winners[p]], logps[batch.losers[p]], batch.reference[batch.winners[p]], batch.reference[batch.losers[p]], batch.weights[p]
        });
      }
    }
    int np = cols.size();
    double[][] a = new double[5][np];
    for (int p = 0; p < np; p++) {
      for (int j = 0; j < 5; j++) {
        a[j][p] = cols.get(p)[j];
      }
    }
    if (!allFinite(a[0]) || !allFinite(a[1])) {
      return new DpoEvaluation(Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, np);
    }
    DpoLoss.Result r = DpoLoss.compute(a[0], a[1], a[2], a[3], a[4], config.beta(), config.lossType(), config.labelSmoothing());
    return statistics(r);
  }

  private static DpoEvaluation statistics(DpoLoss.Result r) {
    return new DpoEvaluation(
        r.loss(), r.accuracy(), r.margin(), r.meanChosenReward(), r.meanRejectedReward(), r.meanPolicyChosen(), r.meanPolicyRejected(), r.chosenRewards().length);
  }

  /** Tokenizes {@code rankings} and computes the reference's log-probabilities of every response once. */
  List<Prepared> prepare(List<Ranking> rankings) {
    List<Prepared> out = new ArrayList<>(rankings.size());
    for (Ranking r : rankings) {
      TokenizedRanking tr = TokenizedRanking.of(r, tokenizer, maxLength, config.addBos(), config.appendEos());
      checkArgument(
          tr.promptLength() >= 1,
          "%s:%s: with an empty prompt and addBos(false) the first response token has no context; enable addBos",
          r.source(),
          r.line());
      out.add(new Prepared(r, tr, new double[tr.k()]));
    }
    for (int i = 0; i < out.size(); i += config.promptsPerBatch()) {
      List<Prepared> chunk = out.subList(i, Math.min(out.size(), i + config.promptsPerBatch()));
      double[] ref = SequenceLogProbs.compute(reference, Batch.sequences(chunk, tokenizer.padId()), config.reduction());
      int row = 0;
      for (Prepared p : chunk) {
        for (int k = 0; k < p.tokens.k(); k++, row++) {
          if (!Double.isFinite(ref[row])) {
            throw new RlhfException(
                p.ranking.source() + ":" + p.ranking.line() + ": the reference model's log-probability of response " + k + " is not finite ("
                    + ref[row] + ")");
          }
          p.referenceLogProbs[k] = ref[row];
        }
      }
    }
    return out;
  }

  private static boolean allFinite(double[] v) {
    for (double x : v) {
      if (!Double.isFinite(x)) {
        return false;
      }
    }
    return true;
  }

  /** A tokenized ranking with the reference log-probabilities of its K responses (stored order). */
  record Prepared(Ranking ranking, TokenizedRanking tokens, double[] referenceLogProbs) {}

  /** Several rankings as one batch: one row per response, pairs indexing the rows. */
  private static final class Batch {
    final SequenceBatch sequences;
    final int[] winners;
    final int[] losers;
    final double[] weights;
    final double[] reference;

    private Batch(SequenceBatch sequences, int[] winners, int[] losers, double[] weights, double[] reference) {
      this.sequences = sequences;
      this.winners = winners;
      this.losers = losers;
      this.weights = weights;
      this.reference = reference;
    }

    static SequenceBatch sequences(List<Prepared> chunk, int padId) {
      List<TokenizedSequence> rows = new ArrayList<>();
      for (Prepared p : chunk) {
        for (int[] ids : p.tokens.sequences()) {
          int[] target = new int[ids.length];
          for (int t = p.tokens.promptLength(); t < ids.length; t++) {
            target[t] = 1;
          }
          rows.add(new TokenizedSequence(ids, target));
        }
      }
      return SequenceBatch.collate(rows, padId);
    }

    static Batch of(List<Prepared> chunk, int padId) {
      List<int[]> pairs = new ArrayList<>();
      List<Double> w = new ArrayList<>();
      List<Double> ref = new ArrayList<>();
      int offset = 0;
      for (Prepared p : chunk) {
        int k = p.tokens.k();
        double weight = 2.0 / (k * (k - 1.0));
        List<Integer> order = p.tokens.order();
        for (int i = 0; i < k; i++) {
          for (int j = i + 1; j < k; j++) {
            pairs.add(new int[] {offset + order.get(i), offset + order.get(j)});
            w.add(weight);
          }
        }
        for (double r : p.referenceLogProbs) {
          ref.add(r);
        }
        offset += k;
      }
      int[] win = new int[pairs.size()];
      int[] lose = new int[pairs.size()];
      double[] wt = new double[pairs.size()];
      for (int i = 0; i < win.length; i++) {
        win[i] = pairs.get(i)[0];
        lose[i] = pairs.get(i)[1];
        wt[i] = w.get(i);
      }
      return new Batch(sequences(chunk, padId), win, lose, wt, ref.stream().mapToDouble(Double::doubleValue).toArray());
    }

    DpoLoss.Result loss(double[] logps, DpoConfig c) {
      int np = winners.length;
      double[] pc = new double[np];
      double[] pr = new double[np];
      double[] rc = new double[np];
      double[] rr = new double[np];
      for (int p = 0; p < np; p++) {
        pc[p] = logps[winners[p]];
        pr[p] = logps[losers[p]];
        rc[p] = reference[winners[p]];
        rr[p] = reference[losers[p]];
      }
      return DpoLoss.compute(pc, pr, rc, rr, weights, c.beta(), c.lossType(), c.labelSmoothing());
    }

    /** dLoss / d(row log-prob), {@code [rows]}: each pair's gradients added to its two rows. */
    double[] rowGradients(DpoLoss.Result r) {
      double[] g = new double[reference.length];
      for (int p = 0; p < winners.length; p++) {
        g[winners[p]] += r.gradPolicyChosen()[p];
        g[losers[p]] += r.gradPolicyRejected()[p];
      }
      return g;
    }
  }

  /** Builds a {@link DpoTrainer}; policy, reference and tokenizer are required. */
  public static final class Builder {
    private final DpoConfig config;
    private CausalLm policy;
    private CausalLm reference;
    private Tokenizer tokenizer;
    private TrainingListener listener = Listeners.none();
    private Path checkpointDir;
    private int checkpointEvery;
    private Path resumeFrom;

    private Builder(DpoConfig config) {
      this.config = checkNotNull(config, "config");
    }

    /** The model to train (in place). */
    public Builder policy(CausalLm v) {
      policy = checkNotNull(v, "policy");
      return this;
    }

    /** The frozen reference (usually the SFT model the policy starts from); never modified. */
    public Builder reference(CausalLm v) {
      reference = checkNotNull(v, "reference");
      return this;
    }

    /** The tokenizer of both models. */
    public Builder tokenizer(Tokenizer v) {
      tokenizer = checkNotNull(v, "tokenizer");
      return this;
    }

    /** Receives the metrics (default: none). */
    public Builder listener(TrainingListener v) {
      listener = checkNotNull(v, "listener");
      return this;
    }

    /**
     * Every {@code every} steps, the run's complete state (policy, AdamW's moments, position in the
     * data) is written to {@code dir} (the supervised trainers' checkpoint format), replacing
     * the previous one atomically.
     */
    public Builder checkpoints(Path dir, int every) {
      checkArgument(every >= 1, "checkpoint interval must be >= 1, got %s", every);
      checkpointDir = checkNotNull(dir, "dir");
      checkpointEvery = every;
      return this;
    }

    /**
     * Continues the run checkpointed in {@code dir} by {@link #checkpoints}: {@link #train} with the
     * same rankings and configuration then goes on from the step after the checkpoint's, exactly as
     * the uninterrupted run would have.
     */
    public Builder resumeFrom(Path dir) {
      resumeFrom = checkNotNull(dir, "dir");
      return this;
    }

    /** The trainer; {@link IllegalStateException} names a missing part, {@link IllegalArgumentException} a mismatch. */
    public DpoTrainer build() {
      checkState(policy != null, "policy is not set");
      checkState(reference != null, "reference is not set");
      checkState(tokenizer != null, "tokenizer is not set");
      checkArgument(policy != reference, "policy and reference must be different models (copy the reference: reference.copy(options))");
      checkArgument(
          policy.vocabSize() == reference.vocabSize(),
          "policy vocabulary %s differs from the reference's %s",
          policy.vocabSize(),
          reference.vocabSize());
      checkArgument(
          tokenizer.vocabSize() <= policy.vocabSize(),
          "the tokenizer's vocabulary (%s) is larger than the models' (%s)",
          tokenizer.vocabSize(),
          policy.vocabSize());
      return new DpoTrainer(this);
    }
  }
}
