package org.rlhf4j.ppo;

import java.util.LinkedHashMap;
import java.util.Map;
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.model.TokenBatch;

/**
 * One PPO batch after sampling and scoring: the sequences, per-response-token arrays {@code [B][N]}
 * (real for {@code j < length[b]}) and per-sequence scores. Filled in stages by {@link PpoTrainer}.
 */
final class Rollout {
  final Generation generation;
  final TokenBatch sequences; // [B, P+N]
  final int promptLength; // P
  final int steps; // N
  final int[] length; // response tokens per row, EOS included
  final boolean[] hasEos;
  double[][] logProbs; // policy log p of each response token (at the sampling temperature)
  double[][] refLogProbs; // reference log q
  double[][] entropy; // policy next-token entropy
  double[][] values; // critic's V at each response position
  double[][] kl; // per-token KL estimate
  double[] rawScores; // reward model's scores
  double[] scores; // after EOS penalty, clipping and scaling
  double[][] rewards; // -beta KL_t, plus the score at the last token
  double[][] advantages; // GAE, whitened
  double[][] returns;

  Rollout(Generation generation, int stopToken) {
    this.generation = generation;
    this.sequences = generation.sequences();
    this.promptLength = generation.prompts().length();
    this.steps = generation.steps();
    int b = generation.batchSize();
    this.length = new int[b];
    this.hasEos = new boolean[b];
    for (int i = 0; i < b; i++) {
      int[] r = generation.response(i);
      length[i] = r.length;
      hasEos[i] = r.length > 0 && r[r.length - 1] == stopToken;
    }
  }

  int batchSize() {
    return length.length;
  }

  /** The per-token KL of every response token from the policy's and the reference's log-probs. */
  double[][] perTokenKl(KlEstimator estimator) {
    double[][] out = new double[batchSize()][steps];
    for (int i = 0; i < batchSize(); i++) {
      for (int t = 0; t < length[i]; t++) {
        out[i][t] = estimator.perToken(logProbs[i][t], refLogProbs[i][t]);
      }
    }
    return out;
  }

  /** The rollout's statistics with TRL's names, for a KL coefficient {@code beta}. */
  Map<String, Double> stats(double beta) {
    int b = batchSize();
    double klSum = 0;
    double entSum = 0;
    double scoreSum = 0;
    double rawSum = 0;
    int eos = 0;
    for (int i = 0; i < b; i++) {
      for (int t = 0; t < length[i]; t++) {
        klSum += kl[i][t];
        entSum += entropy[i][t];
      }
      scoreSum += scores[i];
      rawSum += rawScores[i];
      eos += hasEos[i] ? 1 : 0;
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
    m.put("response_length_mean", (double) tokens() / b);
    return m;
  }

  /** Response tokens in the batch. */
  long tokens() {
    long n = 0;
    for (int l : length) {
      n += l;
    }
    return n;
  }
}
