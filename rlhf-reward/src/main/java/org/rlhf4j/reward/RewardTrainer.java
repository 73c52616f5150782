package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.StepOutcome;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.Permutations;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.data.Ranking;

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

  private final RewardConfig config;

  /** A trainer with {@code config}. */
  public RewardTrainer(RewardConfig config) {
    this.config = config;
  }

  /** The configuration. */
  public RewardConfig config() {
    return config;
  }

  /**
   * Trains {@code rm} in place. With {@code eval == null} a fraction {@link
   * RewardConfig#evalFraction()} of {@code train} is held out (chosen with the seed).
   */
  public RewardResult train(TransformerRewardModel rm, Tokenizer tok, List<Ranking> train, List<Ranking> eval, TrainingListener listener) {
    checkArgument(rm != null, "rm is null");
    checkArgument(tok != null, "tok is null");
    checkArgument(train != null, "train is null");
    checkArgument(!train.isEmpty(), "no training rankings: the train list is empty (eval: %s)", eval == null ? "held out from train" : eval.size() + " rankings");
    TrainingListener l = listener == null ? Listeners.none() : listener;
    int maxLength = Math.min(config.maxLength(), rm.model().config().contextLength());
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
    List<TokenizedRanking> tTrain = tokenize(trainSet, tok, maxLength);
    List<TokenizedRanking> tEval = tokenize(evalSet, tok, maxLength);
    int n = tTrain.size();
    int per = Math.min(config.promptsPerBatch(), n);
    long total = (long) config.epochs() * ((n + per - 1) / per);
    List<Metrics> evals = new ArrayList<>();
    long start = System.nanoTime();
    l.onStart(PHASE, total);
    Optional<RewardEvaluation> initial = tEval.isEmpty() ? Optional.empty() : Optional.of(evaluate(rm, tEval, tok, 0, l, evals));
    double lastLoss = Double.NaN;
    try (AdamW opt = new AdamW(config.optimizer(total), rm.model())) {
      int[] order = Permutations.random(n, rng);
      int pos = 0;
      int epoch = 0;
      for (long step = 1; step <= total; step++) {
        if (pos >= n) {
          order = Permutations.random(n, rng);
          pos = 0;
          epoch++;
        }
        List<TokenizedRanking> chunk = new ArrayList<>(per);
        for (int i = 0; i < per && pos < n; i++) {
          chunk.add(tTrain.get(order[pos++]));
        }
        RankingBatch batch = RankingBatch.of(chunk, tok.padId());
        rm.model().zeroGradients();
        TransformerRewardModel.ScoredPass pass = rm.forward(batch.sequences());
        double[] scores = pass.scores();
        RankingLoss.Result loss =
            RankingLoss.compute(scores, batch.winners(), batch.losers(), batch.weights(), config.margin(), config.centerRewardsCoefficient());
        pass.backward(loss.gradScores());
        StepOutcome o = opt.step(loss.loss());
        lastLoss = loss.loss();
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
        m.put("epoch", epoch + (double) pos / n);
        l.onStep(Metrics.of(PHASE, step, m));
        if (!tEval.isEmpty() && config.evalEvery() > 0 && step % config.evalEvery() == 0 && step < total) {
          evaluate(rm, tEval, tok, step, l, evals);
        }
      }
      Optional<RewardEvaluation> fin = tEval.isEmpty() ? Optional.empty() : Optional.of(evaluate(rm, tEval, tok, total, l, evals));
      double seconds = (System.nanoTime() - start) / 1e9;
      Map<String, Double> summary = new LinkedHashMap<>();
      summary.put("loss", lastLoss);
      summary.put("train_runtime", seconds);
      fin.ifPresent(e -> summary.put("eval/accuracy", e.accuracy()));
      l.onEnd(Metrics.of(PHASE, total, summary));
      return new RewardResult(
          total, opt.skippedCount(), lastLoss, n, seconds, initial, fin, ImmutableList.copyOf(evals), ImmutableMap.copyOf(config.toMap()));
    }
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

  /** Tokenizes rankings with this trainer's settings (errors name the record). */
  public List<TokenizedRanking> tokenize(List<Ranking> rankings, Tokenizer tok, int maxLength) {
    List<TokenizedRanking> out = new ArrayList<>(rankings.size());
    for (Ranking r : rankings) {
      out.add(TokenizedRanking.of(r, tok, maxLength, config.addBos(), config.appendEos()));
    }
    return out;
  }

}
