package org.rlhf4j.ppo;

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

  /** Response tokens in the batch. */
  long tokens() {
    long n = 0;
    for (int l : length) {
      n += l;
    }
    return n;
  }
}
