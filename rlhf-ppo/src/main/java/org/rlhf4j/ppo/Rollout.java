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

  int[] promptIndex; // each row's prompt: its index in the step's prompt list
  int nonFiniteScores; // episodes dropped for a NaN or infinite score
  int klClamped; // response tokens whose KL estimate was clamped

  private Rollout(TokenBatch sequences, int promptLength, int steps, int[] length, boolean[] hasEos) {
    this.sequences = sequences;
    this.promptLength = promptLength;
    this.steps = steps;
    this.length = length;
    this.hasEos = hasEos;
  }

  /**
   * The rows {@code idx} of a rollout scored up to the raw scores (log-probs, values, KL and raw
   * scores are kept; later stages are computed on the subset).
   */
  Rollout select(int[] idx) {
    Rollout r = new Rollout(sequences.select(idx), promptLength, steps, ResponseTokens.rows(length, idx), selectRows(hasEos, idx));
    r.logProbs = ResponseTokens.rows(logProbs, idx);
    r.refLogProbs = ResponseTokens.rows(refLogProbs, idx);
    r.entropy = ResponseTokens.rows(entropy, idx);
    r.values = ResponseTokens.rows(values, idx);
    r.kl = ResponseTokens.rows(kl, idx);
    r.rawScores = new double[idx.length];
    for (int i = 0; i < idx.length; i++) {
      r.rawScores[i] = rawScores[idx[i]];
    }
    r.promptIndex = ResponseTokens.rows(promptIndex, idx);
    r.nonFiniteScores = nonFiniteScores;
    r.klClamped = klClamped;
    return r;
  }

  private static boolean[] selectRows(boolean[] a, int[] idx) {
    boolean[] out = new boolean[idx.length];
    for (int i = 0; i < idx.length; i++) {
      out[i] = a[idx[i]];
    }
    return out;
  }

  Rollout(Generation generation, int stopToken) {
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
    this.promptIndex = new int[b];
    for (int i = 0; i < b; i++) {
      promptIndex[i] = i;
    }
  }

  /** The response tokens of row {@code i} (EOS included). */
  int[] response(int i) {
    int[] out = new int[length[i]];
    for (int t = 0; t < out.length; t++) {
      out[t] = sequences.id(i, promptLength + t);
    }
    return out;
  }

  int batchSize() {
    return length.length;
  }

  /**
   * The (clamped) per-token KL of every response token from the policy's and the reference's
   * log-probs; counts the clamped tokens in {@link #klClamped}.
   */
  double[][] perTokenKl(KlEstimator estimator) {
    double[][] out = new double[batchSize()][steps];
    for (int i = 0; i < batchSize(); i++) {
      for (int t = 0; t < length[i]; t++) {
        out[i][t] = estimator.perToken(logProbs[i][t], refLogProbs[i][t]);
        klClamped += estimator.isClamped(logProbs[i][t], refLogProbs[i][t]) ? 1 : 0;
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
    m.put("objective/kl_clamped_tokens", (double) klClamped);
    m.put("objective/scores_nonfinite", (double) nonFiniteScores);
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
