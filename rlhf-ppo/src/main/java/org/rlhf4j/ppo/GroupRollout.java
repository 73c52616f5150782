package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.List;
import org.rlhf4j.core.model.TokenBatch;

/**
 * An immutable sampled and scored batch, as {@link RolloutCollector} produces it: the sequences
 * {@code [B, P+N]}, per-response-token arrays {@code [B][N]} (real for {@code t < length[b]}; the
 * KL is 0 later, the log-probabilities are those of the padding) and one score per sequence.
 * Accessors return copies.
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

  /**
   * A rollout from its parts (copied), e.g. one computed elsewhere (on a Spark executor) and sent
   * back as arrays; the arrays must have the shapes of the accessors' documentation, the scores and
   * the per-token values of real response tokens ({@code t < length[b]}) must be finite.
   *
   * @param sequences {@code [B, P+N]}
   * @param length {@code [B]} response tokens of each row, at most {@code steps}
   * @param logProbs {@code [B][N]}, likewise {@code refLogProbs} and {@code kl}
   * @param scores {@code [B]}
   */
  public static GroupRollout of(TokenBatch sequences, int promptLength, int steps, int[] length, boolean[] hasEos,
      double[][] logProbs, double[][] refLogProbs, double[][] kl, double[] scores) {
    checkNotNull(sequences, "sequences");
    int b = sequences.batchSize();
    checkArgument(promptLength >= 1 && steps >= 0 && sequences.length() == promptLength + steps,
        "sequences have length %s, expected promptLength %s + steps %s", sequences.length(), promptLength, steps);
    checkArgument(length.length == b && hasEos.length == b && scores.length == b,
        "length (%s), hasEos (%s) and scores (%s) must have one entry per sequence (%s)", length.length, hasEos.length,
        scores.length, b);
    for (int i = 0; i < b; i++) {
      checkArgument(length[i] >= 0 && length[i] <= steps, "length[%s] = %s is outside [0, %s]", i, length[i], steps);
      checkArgument(Double.isFinite(scores[i]), "scores[%s] = %s is not finite", i, (Object) scores[i]);
    }
    return new GroupRollout(sequences, promptLength, steps, length.clone(), hasEos.clone(),
        checkRows("logProbs", logProbs, length, steps), checkRows("refLogProbs", refLogProbs, length, steps),
        checkRows("kl", kl, length, steps), scores.clone());
  }

  /** A copy of {@code a} after checking its shape {@code [B][N]} and that its real entries are finite. */
  private static double[][] checkRows(String name, double[][] a, int[] length, int n) {
    int b = length.length;
    checkArgument(a.length == b, "%s has %s rows, expected %s", name, a.length, b);
    double[][] out = new double[b][];
    for (int i = 0; i < b; i++) {
      checkArgument(a[i].length == n, "%s[%s] has %s entries, expected %s", name, i, a[i].length, n);
      for (int t = 0; t < length[i]; t++) {
        checkArgument(Double.isFinite(a[i][t]), "%s[%s][%s] = %s is not finite", name, i, t, a[i][t]);
      }
      out[i] = a[i].clone();
    }
    return out;
  }

  /**
   * The rows of {@code parts} in order, as one rollout: prompts left-padded to the longest padded
   * prompt, responses right-padded (with {@code padId}, mask 0, and 0 in the per-token arrays) to
   * the widest response.
   */
  public static GroupRollout concat(List<GroupRollout> parts, int padId) {
    checkArgument(!parts.isEmpty(), "no rollouts to concatenate");
    if (parts.size() == 1) {
      return parts.get(0);
    }
    int p = 0;
    int n = 0;
    int b = 0;
    for (GroupRollout r : parts) {
      p = Math.max(p, r.promptLength);
      n = Math.max(n, r.steps);
      b += r.batchSize();
    }
    int w = p + n;
    int[] ids = new int[b * w];
    int[] mask = new int[b * w];
    java.util.Arrays.fill(ids, padId);
    int[] length = new int[b];
    boolean[] hasEos = new boolean[b];
    double[][] logp = new double[b][n];
    double[][] logq = new double[b][n];
    double[][] kl = new double[b][n];
    double[] scores = new double[b];
    int row = 0;
    for (GroupRollout r : parts) {
      int shift = p - r.promptLength; // extra left padding
      for (int i = 0; i < r.batchSize(); i++, row++) {
        for (int t = 0; t < r.promptLength + r.steps; t++) {
          ids[row * w + shift + t] = r.sequences.id(i, t);
          mask[row * w + shift + t] = r.sequences.mask(i, t);
        }
        length[row] = r.length[i];
        hasEos[row] = r.hasEos[i];
        System.arraycopy(r.logProbs[i], 0, logp[row], 0, r.steps);
        System.arraycopy(r.refLogProbs[i], 0, logq[row], 0, r.steps);
        System.arraycopy(r.kl[i], 0, kl[row], 0, r.steps);
        scores[row] = r.scores[i];
      }
    }
    return new GroupRollout(TokenBatch.of(b, w, ids, mask), p, n, length, hasEos, logp, logq, kl, scores);
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
