package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;


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
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.StepOutcome;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.Permutations;
import org.rlhf4j.core.train.SupervisedLoop;
import org.rlhf4j.core.train.TrainerCheckpoint;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.data.Ranking;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trains a {@link TransformerRewardModel} on human rankings with the pairwise loss {@code -log
 * sigmoid(r_w - r_l - margin)} over all C(K,2) pairs of each ranking, a ranking's pairs kept in one
 * batch and weighted 1/C(K,2) (InstructGPT). Reports TRL's {@code loss}, {@code accuracy}, {@code
 * margin}, {@code mean_reward} per step and {@code eval/accuracy}, {@code eval/margin}, {@code
 * eval/exact_ranking}, {@code eval/mean_reward} per evaluation. Reproducible from {@link
 * RewardConfig#seed()}.
 */
public final class RewardTrainer {
  /** The phase name reported to listeners. */
  public static final String PHASE = "reward";

  private static final Logger LOG = LoggerFactory.getLogger(RewardTrainer.class);

  private final RewardConfig config;
  private final ImmutableList<TrainingListener> listeners;
  private final Path checkpointDir; // null: no periodic checkpoints
  private final int checkpointEvery;
  private final Path resumeFrom; // null: a fresh run

  /** A trainer with {@code config}. */
  public RewardTrainer(RewardConfig config) {
    this(config, ImmutableList.of(), null, 0, null);
  }

  private RewardTrainer(RewardConfig config, ImmutableList<TrainingListener> listeners, Path checkpointDir, int checkpointEvery, Path resumeFrom) {
    this.config = checkNotNull(config, "config");
    this.listeners = listeners;
    this.checkpointDir = checkpointDir;
    this.checkpointEvery = checkpointEvery;
    this.resumeFrom = resumeFrom;
  }

  /**
   * This trainer continuing, exactly, the run whose periodic checkpoint ({@link #withCheckpoints})
   * is {@code dir}: {@code train} loads the checkpoint's weights (and normalisation) into the reward
   * model it is given (same architecture), restores AdamW's moments and counters, the step and the
   * position in the data order, and runs the remaining steps; metrics and weights are bit-identical
   * to the uninterrupted run's. The configuration and rankings must be the same; a different
   * configuration is a {@link org.rlhf4j.core.io.CheckpointException} naming only the differing
   * keys, a checkpoint of another trainer (e.g. SFT) is refused. The evaluation before training is
   * not repeated.
   */
  public RewardTrainer resumeFrom(Path dir) {
    checkNotNull(dir, "dir");
    return new RewardTrainer(config, listeners, checkpointDir, checkpointEvery, dir);
  }

  /**
   * This trainer writing its state to {@code dir} every {@code every} steps, replacing the previous
   * one atomically: the reward model as {@link TransformerRewardModel#save} writes it (so {@link
   * TransformerRewardModel#load} reads it) plus the optimiser state and position for {@link
   * #resumeFrom} (see {@link TrainerCheckpoint}).
   */
  public RewardTrainer withCheckpoints(Path dir, int every) {
    checkNotNull(dir, "dir");
    checkArgument(every >= 1, "checkpoint interval must be >= 1, got %s", every);
    return new RewardTrainer(config, listeners, dir, every, resumeFrom);
  }

  /** This trainer with {@code listener} added (called after the ones already added). */
  public RewardTrainer withListener(TrainingListener listener) {
    checkNotNull(listener, "listener");
    return new RewardTrainer(config, ImmutableList.<TrainingListener>builder().addAll(listeners).add(listener).build(), checkpointDir, checkpointEvery, resumeFrom);
  }

  /**
   * Trains {@code rm} in place on {@code train}, holding out a fraction {@link
   * RewardConfig#evalFraction()} of it (chosen with the seed) for evaluation.
   */
  public RewardResult train(TransformerRewardModel rm, Tokenizer tok, List<Ranking> train) {
    return train(rm, tok, train, null, null);
  }

  /** Trains {@code rm} in place on {@code train}, evaluating on {@code eval}. */
  public RewardResult train(TransformerRewardModel rm, Tokenizer tok, List<Ranking> train, List<Ranking> eval) {
    return train(rm, tok, train, checkNotNull(eval, "eval (use train(rm, tok, train) to hold out a fraction)"), null);
  }

  /** The configuration. */
  public RewardConfig config() {
    return config;
  }

  /**
   * Trains {@code rm} in place. With {@code eval == null} a fraction {@link
   * RewardConfig#evalFraction()} of {@code train} is held out (chosen with the seed).
   *
   * @deprecated nullable positional arguments: use {@link #train(TransformerRewardModel, Tokenizer,
   *     List)}, {@link #train(TransformerRewardModel, Tokenizer, List, List)} and {@link #withListener}.
   */
  @Deprecated
  public RewardResult train(TransformerRewardModel rm, Tokenizer tok, List<Ranking> train, List<Ranking> eval, TrainingListener listener) {
    checkArgument(rm != null, "rm is null");
    checkArgument(tok != null, "tok is null");
    checkArgument(train != null, "train is null");
    checkArgument(!train.isEmpty(), "no training rankings: the train list is empty (eval: %s)", eval == null ? "held out from train" : eval.size() + " rankings");
    List<TrainingListener> all = new ArrayList<>(listeners);
    if (listener != null) {
      all.add(listener);
    }
    TrainingListener l = Listeners.of(all);
    int maxLength = Math.min(config.maxLength(), rm.model().contextLength());
    SplittableRandom rng = new SplittableRandom(config.seed());
    List<Ranking> trainSet = new ArrayList<>(train);
    List<Ranking> evalSet = eval == null ? new ArrayList<>() : new ArrayList<>(eval);
    if (eval == null && config.evalFraction() > 0) {
      int[] perm = Permutations.random(trainSet.size(), rng);
      int held = (int) Math.round(trainSet.size() * config.evalFraction());
      List<Ranking> kept = new ArrayList<>();
      for (int i = 0; i < perm.length; i++) {
        (i < held ? evalSet : kept).add(trainSet.get(perm[i]));
      }
      trainSet = kept;
      checkArgument(
          !trainSet.isEmpty(),
          "no rankings left for training: %s given, %s held out for evaluation by evalFraction %s; give more rankings, a smaller evalFraction or an explicit eval list",
          train.size(),
          held,
          config.evalFraction());
    }
    TokenizedRankings fitTrain = TokenizedRankings.of(trainSet, tok, maxLength, config.addBos(), config.appendEos(), config.truncation());
    TokenizedRankings fitEval = TokenizedRankings.of(evalSet, tok, maxLength, config.addBos(), config.appendEos(), config.truncation());
    if (fitTrain.truncated() + fitTrain.skipped() + fitEval.truncated() + fitEval.skipped() > 0) {
      LOG.info("rankings longer than {} tokens: {} truncated, {} skipped (training); {} truncated, {} skipped (evaluation)",
          maxLength, fitTrain.truncated(), fitTrain.skipped(), fitEval.truncated(), fitEval.skipped());
    }
    checkArgument(!fitTrain.rankings().isEmpty(), "no training rankings left (%s skipped as longer than %s tokens)", fitTrain.skipped(), maxLength);
    List<TokenizedRanking> tTrain = fitTrain.rankings();
    List<TokenizedRanking> tEval = fitEval.rankings();
    int n = tTrain.size();
    int per = Math.min(config.promptsPerBatch(), n);
    long total = (long) config.epochs() * ((n + per - 1) / per);
    List<Metrics> evals = new ArrayList<>();
    List<RewardEvaluation> initial = new ArrayList<>(1);
    long start = System.nanoTime();
    l.onStart(PHASE, total);
    SupervisedLoop.Task task =
        new SupervisedLoop.Task() {
          @Override
          public Map<String, Double> step(AdamW opt, int[] indices, double epoch) {
            List<TokenizedRanking> chunk = new ArrayList<>(indices.length);
            for (int i : indices) {
              chunk.add(tTrain.get(i));
            }
            RankingBatch batch = RankingBatch.of(chunk, tok.padId());
            rm.model().zeroGradients();
            TransformerRewardModel.ScoredPass pass = rm.forward(batch.sequences());
            double[] scores = pass.scores();
            RankingLoss.Result loss =
                RankingLoss.compute(scores, batch.winners(), batch.losers(), batch.weights(), config.margin(), config.centerRewardsCoefficient());
            pass.backward(loss.gradScores());
            StepOutcome o = opt.step(loss.loss());
            double mean = 0;
            for (double s : scores) {
              mean += s / scores.length;
            }
            Map<String, Double> m = new LinkedHashMap<>();
            m.put("loss", loss.loss());
            m.put("accuracy", loss.accuracy());
            m.put("margin", loss.margin());
            m.put("mean_reward", mean);
            m.put("learning_rate", o.learningRate());
            m.put("grad_norm", o.gradNorm());
            m.put("epoch", epoch);
            return m;
          }

          @Override
          public void evaluate(long step) {
            RewardEvaluation e = RewardTrainer.this.evaluate(rm, tEval, tok, step, l, evals);
            if (step == 0) {
              initial.add(e);
            }
          }

          @Override
          public void writeModels(Path dir, long step) throws IOException {
            rm.writeFiles(dir, Provenance.of(PHASE, config.seed(), config.toMap(), null));
          }

          @Override
          public void loadModels(Path dir) {
            rm.loadFrom(dir);
          }
        };
    SupervisedLoop.Plan plan =
        new SupervisedLoop.Plan(
            PHASE, TransformerRewardModel.KIND, config.toMap(), List.of(rm.model()), config.optimizer(total), n, per, total, config.evalEvery(), !tEval.isEmpty(), config.seed());
    SupervisedLoop.Outcome out = SupervisedLoop.run(plan, task, l, rng, checkpointDir, checkpointEvery, resumeFrom);
    long done = out.steps();
    Optional<RewardEvaluation> fin = tEval.isEmpty() ? Optional.empty() : Optional.of(evaluate(rm, tEval, tok, done, l, evals));
    double seconds = (System.nanoTime() - start) / 1e9;
    Map<String, Double> summary = new LinkedHashMap<>();
    summary.put("loss", out.lastLoss());
    summary.put("train_runtime", seconds);
    summary.put("truncated_rankings", (double) fitTrain.truncated());
    summary.put("skipped_rankings", (double) fitTrain.skipped());
    fin.ifPresent(e -> summary.put("eval/accuracy", e.accuracy()));
    l.onEnd(Metrics.of(PHASE, done, summary));
    return new RewardResult(
        done, out.skippedSteps(), out.lastLoss(), n, seconds, initial.stream().findFirst(), fin, ImmutableList.copyOf(evals), ImmutableMap.copyOf(config.toMap()));
  }

  private RewardEvaluation evaluate(TransformerRewardModel rm, List<TokenizedRanking> data, Tokenizer tok, long step, TrainingListener l, List<Metrics> sink) {
    RewardEvaluation e = RewardEvaluator.evaluate(rm, data, tok, config.promptsPerBatch());
    Map<String, Double> m = new LinkedHashMap<>();
    m.put("eval/accuracy", e.accuracy());
    m.put("eval/margin", e.meanMargin());
    m.put("eval/exact_ranking", e.exactRankings());
    m.put("eval/mean_reward", e.meanReward());
    Metrics metrics = Metrics.of(PHASE, step, m);
    l.onEvaluation(metrics);
    sink.add(metrics);
    return e;
  }

  /**
   * Tokenizes rankings with this trainer's settings, its {@link RewardConfig#truncation()} included
   * (errors name the record; skipped rankings are left out).
   */
  public List<TokenizedRanking> tokenize(List<Ranking> rankings, Tokenizer tok, int maxLength) {
    return TokenizedRankings.of(rankings, tok, maxLength, config.addBos(), config.appendEos(), config.truncation()).rankings();
  }

}
