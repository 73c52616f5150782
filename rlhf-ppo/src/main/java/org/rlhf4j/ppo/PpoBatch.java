package org.rlhf4j.ppo;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A rollout as PPO learns from it: the shaped scores, the per-token rewards {@code -beta KL_t} (plus
 * the score at the last response token), and the whitened GAE advantages and returns, all {@code
 * [B][N]} like the rollout's arrays. Built by {@link #of}; immutable.
 */
final class PpoBatch {
  final Rollout rollout;
  final double[] scores; // [B] after EOS penalty, scaling and clipping
  final double[][] rewards; // [B][N]
  final double[][] advantages; // [B][N] GAE, whitened
  final double[][] returns; // [B][N]
  final int droppedNonFinite; // episodes left out of the collected batch for a NaN or infinite score

  private PpoBatch(Rollout rollout, double[] scores, double[][] rewards, double[][] advantages, double[][] returns, int dropped) {
    this.rollout = rollout;
    this.scores = scores;
    this.rewards = rewards;
    this.advantages = advantages;
    this.returns = returns;
    this.droppedNonFinite = dropped;
  }

  /**
   * Scores (shaped by {@code shaping}), rewards with KL coefficient {@code beta}, and advantages of a
   * rollout with values and finite scores.
   */
  static PpoBatch of(Rollout r, int dropped, ScoreShaping shaping, double beta, PpoConfig config) {
    double[] scores = shaping.apply(r.scores, r.hasEos);
    double[][] rewards = new double[r.batchSize()][r.steps];
    for (int i = 0; i < r.batchSize(); i++) {
      for (int t = 0; t < r.length[i]; t++) {
        rewards[i][t] = -beta * r.kl[i][t]; // r_t = -beta KL_t
      }
      rewards[i][r.length[i] - 1] += scores[i]; // + RM score at the last response token
    }
    if (config.whitenRewards()) {
      rewards = Whitening.whiten(rewards, r.length, false);
    }
    Gae.Result g = Gae.compute(rewards, r.values, r.length, config.gamma(), config.lam());
    return new PpoBatch(r, scores, rewards, Whitening.whiten(g.advantages(), r.length, true), g.returns(), dropped);
  }

  /** The rollout's statistics with TRL's names, for a KL coefficient {@code beta}. */
  Map<String, Double> stats(double beta) {
    Rollout r = rollout;
    int b = r.batchSize();
    double klSum = 0;
    double entSum = 0;
    double scoreSum = 0;
    double rawSum = 0;
    int eos = 0;
    for (int i = 0; i < b; i++) {
      for (int t = 0; t < r.length[i]; t++) {
        klSum += r.kl[i][t];
        entSum += r.entropy[i][t];
      }
      scoreSum += scores[i];
      rawSum += r.scores[i];
      eos += r.hasEos[i] ? 1 : 0;
    }
    Map<String, Double> m = new LinkedHashMap<>();
    m.put("objective/kl", klSum / b);
    m.put("objective/entropy", entSum / b);
    m.put("objective/non_score_reward", -beta * klSum / b);
    m.put("objective/rlhf_reward", scoreSum / b - beta * klSum / b);
    m.put("objective/scores", scoreSum / b);
    m.put("objective/raw_scores", rawSum / b);
    m.put("objective/kl_coef", beta);
    m.put("val/num_eos_tokens", (double) eos);
    m.put("response_length_mean", (double) r.tokens() / b);
    m.put("objective/kl_clamped_tokens", (double) r.klClamped);
    m.put("objective/scores_nonfinite", (double) droppedNonFinite);
    double ev = varianceExplained(r.values, returns, r.length);
    if (Double.isFinite(ev)) { // left out when the returns do not vary
      m.put("val/var_explained", ev);
    }
    return m;
  }

  /**
   * TRL's {@code val/var_explained}, {@code 1 - var(returns - values) / var(returns)} over the real
   * response tokens, with the values the rollout recorded (before this step's update): 1 for a value
   * function that predicts the returns, 0 for one no better than their mean, negative for worse;
   * NaN when the returns do not vary.
   */
  static double varianceExplained(double[][] values, double[][] returns, int[] length) {
    double sr = 0;
    double srr = 0;
    double se = 0;
    double see = 0;
    long n = 0;
    for (int i = 0; i < length.length; i++) {
      for (int t = 0; t < length[i]; t++) {
        double ret = returns[i][t];
        double err = ret - values[i][t];
        sr += ret;
        srr += ret * ret;
        se += err;
        see += err * err;
        n++;
      }
    }
    if (n < 2) {
      return Double.NaN;
    }
    double varR = (srr - sr * sr / n) / (n - 1);
    double varE = (see - se * se / n) / (n - 1);
    return varR > 0 ? 1 - varE / varR : Double.NaN;
  }
}
