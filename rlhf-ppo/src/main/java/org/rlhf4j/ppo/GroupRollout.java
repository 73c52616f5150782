package org.rlhf4j.ppo;

import org.rlhf4j.core.model.TokenBatch;

/**
 * An immutable sampled and scored batch, as {@link RolloutCollector} produces it: the sequences
 * {@code [B, P+N]}, per-response-token arrays {@code [B][N]} (real for {@code t < length[b]}, 0
 * later) and one score per sequence. Accessors return copies.
 */
public final class GroupRollout {
  private final TokenBatch sequences; // [B, P+N]
  private final int promptLength; // P
  private final int steps; // N
  private final int[] length; // [B] response tokens, EOS included
  private final boolean[] hasEos; // [B]
  private final double[][] logProbs; // [B][N] policy log p at the sampling temperature
  private final double[][] refLogProbs; // [B][N] reference log q
  private final double[][] kl; // [B][N] clamped per-token KL estimate
  private final double[] scores; // [B] reward model's scores

  GroupRollout(TokenBatch sequences, int promptLength, int steps, int[] length, boolean[] hasEos, double[][] logProbs,
      double[][] refLogProbs, double[][] kl, double[] scores) {
    this.sequences = sequences;
    this.promptLength = promptLength;
    this.steps = steps;
    this.length = length;
    this.hasEos = hasEos;
    this.logProbs = logProbs;
    this.refLogProbs = refLogProbs;
    this.kl = kl;
    this.scores = scores;
  }

  /** The prompt and response tokens, {@code [B, P+N]}, prompts left-padded. */
  public TokenBatch sequences() {
    return sequences;
  }

  /** The (padded) prompt length P. */
  public int promptLength() {
    return promptLength;
  }

  /** The response width N. */
  public int steps() {
    return steps;
  }

  /** The number of sequences B. */
  public int batchSize() {
    return length.length;
  }

  /** Response tokens of each row (EOS included). */
  public int[] length() {
    return length.clone();
  }

  /** Whether each response ended with the stop token. */
  public boolean[] hasEos() {
    return hasEos.clone();
  }

  /** The policy's log-probabilities of the response tokens at sampling time. */
  public double[][] logProbs() {
    return deep(logProbs);
  }

  /** The reference's log-probabilities of the response tokens. */
  public double[][] refLogProbs() {
    return deep(refLogProbs);
  }

  /** The per-token KL estimate. */
  public double[][] kl() {
    return deep(kl);
  }

  /** The reward model's score of each sequence. */
  public double[] scores() {
    return scores.clone();
  }

  /** The summed per-token KL of each sequence, {@code [B]}. */
  public double[] sequenceKl() {
    double[] out = new double[batchSize()];
    for (int i = 0; i < out.length; i++) {
      for (int t = 0; t < length[i]; t++) {
        out[i] += kl[i][t];
      }
    }
    return out;
  }

  /** Response tokens in the batch. */
  public long tokens() {
    long n = 0;
    for (int l : length) {
      n += l;
    }
    return n;
  }

  private static double[][] deep(double[][] a) {
    double[][] out = new double[a.length][];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i].clone();
    }
    return out;
  }
}
