package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import org.rlhf4j.core.model.TokenBatch;

/**
 * An immutable sampled and scored batch, as {@link RolloutCollector} produces it and every RL
 * trainer (PPO, GRPO, RLOO) consumes it: the sequences {@code [B, P+N]}, per-response-token arrays
 * {@code [B][N]} (real for {@code t < length[b]}, 0 later) and one reward-model score per sequence.
 * The score is the reward model's raw output and may be NaN or infinite: what to do with such an
 * episode is the trainer's choice ({@link #finiteRows()}, {@link #select}). Public accessors return
 * copies; the package's trainers read the arrays directly.
 */
public final class Rollout {
  final TokenBatch sequences; // [B, P+N]
  final int promptLength; // P
  final int steps; // N
  final int[] length; // [B] response tokens, EOS included
  final boolean[] hasEos; // [B]
  final int[] promptIndex; // [B] each row's prompt: its index in the collected prompt list
  final double[][] logProbs; // [B][N] policy log p at the sampling temperature
  final double[][] refLogProbs; // [B][N] reference log q
  final double[][] entropy; // [B][N] policy next-token entropy
  final double[][] values; // [B][N] value head or critic at each response position; null if not collected
  final double[][] kl; // [B][N] clamped per-token KL estimate
  final double[] scores; // [B] reward model's raw scores
  final int klClamped; // response tokens whose KL estimate was clamped

  Rollout(TokenBatch sequences, int promptLength, int steps, int[] length, boolean[] hasEos, int[] promptIndex,
      double[][] logProbs, double[][] refLogProbs, double[][] entropy, double[][] values, double[][] kl, double[] scores,
      int klClamped) {
    this.sequences = sequences;
    this.promptLength = promptLength;
    this.steps = steps;
    this.length = length;
    this.hasEos = hasEos;
    this.promptIndex = promptIndex;
    this.logProbs = logProbs;
    this.refLogProbs = refLogProbs;
    this.entropy = entropy;
    this.values = values;
    this.kl = kl;
    this.scores = scores;
    this.klClamped = klClamped;
  }

  /**
   * The rows {@code idx} (in that order) as a rollout of their own; {@link #klClampedTokens()}
   * keeps the count of the whole batch.
   */
  public Rollout select(int[] idx) {
    for (int i : idx) {
      checkArgument(i >= 0 && i < batchSize(), "row %s is outside the rollout of %s rows", i, batchSize());
    }
    return new Rollout(sequences.select(idx), promptLength, steps, ResponseTokens.rows(length, idx), rows(hasEos, idx),
        ResponseTokens.rows(promptIndex, idx), ResponseTokens.rows(logProbs, idx), ResponseTokens.rows(refLogProbs, idx),
        ResponseTokens.rows(entropy, idx), values == null ? null : ResponseTokens.rows(values, idx), ResponseTokens.rows(kl, idx),
        rows(scores, idx), klClamped);
  }

  /** The rows whose score is finite, in order. */
  public int[] finiteRows() {
    int n = 0;
    int[] out = new int[batchSize()];
    for (int i = 0; i < out.length; i++) {
      if (Double.isFinite(scores[i])) {
        out[n++] = i;
      }
    }
    return java.util.Arrays.copyOf(out, n);
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

  /** Each row's prompt, as its index in the list of prompts given to the collector. */
  public int[] promptIndex() {
    return promptIndex.clone();
  }

  /** The response tokens of row {@code i} (EOS included). */
  public int[] response(int i) {
    checkArgument(i >= 0 && i < batchSize(), "row %s is outside the rollout of %s rows", i, batchSize());
    int[] out = new int[length[i]];
    for (int t = 0; t < out.length; t++) {
      out[t] = sequences.id(i, promptLength + t);
    }
    return out;
  }

  /** The policy's log-probabilities of the response tokens at sampling time. */
  public double[][] logProbs() {
    return deep(logProbs);
  }

  /** The reference's log-probabilities of the response tokens. */
  public double[][] refLogProbs() {
    return deep(refLogProbs);
  }

  /** The policy's next-token entropy at each response position. */
  public double[][] entropy() {
    return deep(entropy);
  }

  /** Whether the collector recorded values ({@link RolloutCollector.Builder#values}). */
  public boolean hasValues() {
    return values != null;
  }

  /**
   * The value estimate at each response position.
   *
   * @throws IllegalStateException if the rollout was collected without values
   */
  public double[][] values() {
    checkState(values != null, "this rollout was collected without values (RolloutCollector.Builder.values)");
    return deep(values);
  }

  /** The per-token KL estimate. */
  public double[][] kl() {
    return deep(kl);
  }

  /** The reward model's score of each sequence (NaN or infinite where the reward model said so). */
  public double[] scores() {
    return scores.clone();
  }

  /** Response tokens of the collected batch whose KL estimate was clamped. */
  public int klClampedTokens() {
    return klClamped;
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

  private static boolean[] rows(boolean[] a, int[] idx) {
    boolean[] out = new boolean[idx.length];
    for (int i = 0; i < idx.length; i++) {
      out[i] = a[idx[i]];
    }
    return out;
  }

  private static double[] rows(double[] a, int[] idx) {
    double[] out = new double[idx.length];
    for (int i = 0; i < idx.length; i++) {
      out[i] = a[idx[i]];
    }
    return out;
  }
}
