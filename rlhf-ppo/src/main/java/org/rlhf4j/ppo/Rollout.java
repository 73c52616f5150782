package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import java.util.Arrays;
import java.util.List;
import org.rlhf4j.core.model.TokenBatch;

/**
 * An immutable sampled and scored batch, as {@link RolloutCollector} produces it and every RL
 * trainer (PPO, GRPO, RLOO) consumes it: the sequences {@code [B, P+N]}, per-response-token arrays
 * {@code [B][N]} (real for {@code t < length[b]}, 0 later) and one reward-model score per sequence.
 * The score is the reward model's raw output and may be NaN or infinite: what to do with such an
 * episode is the trainer's choice ({@link #finiteRows()}, {@link #select}). A rollout computed
 * elsewhere comes back with {@link #of} and {@link #concat}. Public accessors return copies; the
 * package's trainers read the arrays directly.
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
  final double[][] entropy; // [B][N] policy next-token entropy; null if not known (a rollout from parts)
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
        entropy == null ? null : ResponseTokens.rows(entropy, idx), values == null ? null : ResponseTokens.rows(values, idx), ResponseTokens.rows(kl, idx),
        rows(scores, idx), klClamped);
  }

  /**
   * A rollout from its parts (copied), e.g. one computed elsewhere (on a Spark executor) and sent
   * back as arrays; the arrays must have the shapes of the accessors' documentation and the values
   * must be finite. It has no entropies and no values ({@link #builder} takes those too); row {@code i}'s
   * prompt index is {@code i}.
   *
   * @param sequences {@code [B, P+N]}
   * @param length {@code [B]} response tokens of each row, at most {@code steps}
   * @param logProbs {@code [B][N]}, likewise {@code refLogProbs} and {@code kl}
   * @param scores {@code [B]}
   */
  public static Rollout of(TokenBatch sequences, int promptLength, int steps, int[] length, boolean[] hasEos,
      double[][] logProbs, double[][] refLogProbs, double[][] kl, double[] scores) {
    checkNotNull(scores, "scores");
    for (int i = 0; i < scores.length; i++) {
      checkArgument(Double.isFinite(scores[i]), "scores[%s] = %s is not finite", i, (Object) scores[i]);
    }
    return builder(sequences, promptLength, steps).length(length).hasEos(hasEos).logProbs(logProbs)
        .refLogProbs(refLogProbs).kl(kl).scores(scores).build();
  }

  /**
   * A builder of a rollout from its parts (copied), e.g. one computed elsewhere and sent back as
   * arrays, with everything a collected rollout has: besides {@link #of}'s parts optionally the
   * entropies, the values and the count of clamped KL estimates. Scores may be NaN or infinite, as a
   * collected rollout's (the trainers decide what to do with such an episode); every per-token value
   * must be finite.
   *
   * @param sequences {@code [B, P+N]}
   */
  public static Builder builder(TokenBatch sequences, int promptLength, int steps) {
    return new Builder(sequences, promptLength, steps);
  }

  /** Builds a {@link Rollout} from its parts; {@link #build()} checks shapes and values. */
  public static final class Builder {
    private final TokenBatch sequences;
    private final int promptLength;
    private final int steps;
    private int[] length;
    private boolean[] hasEos;
    private double[][] logProbs;
    private double[][] refLogProbs;
    private double[][] entropy;
    private double[][] values;
    private double[][] kl;
    private double[] scores;
    private int klClamped;

    private Builder(TokenBatch sequences, int promptLength, int steps) {
      this.sequences = checkNotNull(sequences, "sequences");
      checkArgument(promptLength >= 1 && steps >= 0 && sequences.length() == promptLength + steps,
          "sequences have length %s, expected promptLength %s + steps %s", sequences.length(), promptLength, steps);
      this.promptLength = promptLength;
      this.steps = steps;
    }

    /** {@code [B]} response tokens of each row (EOS included), at most {@code steps}; required. */
    public Builder length(int[] v) {
      length = checkNotNull(v, "length").clone();
      return this;
    }

    /** {@code [B]} whether each response ended with the stop token; required. */
    public Builder hasEos(boolean[] v) {
      hasEos = checkNotNull(v, "hasEos").clone();
      return this;
    }

    /** {@code [B][N]} the policy's log-probabilities; required. */
    public Builder logProbs(double[][] v) {
      logProbs = checkNotNull(v, "logProbs");
      return this;
    }

    /** {@code [B][N]} the reference's log-probabilities; required. */
    public Builder refLogProbs(double[][] v) {
      refLogProbs = checkNotNull(v, "refLogProbs");
      return this;
    }

    /** {@code [B][N]} the per-token KL estimates; required. */
    public Builder kl(double[][] v) {
      kl = checkNotNull(v, "kl");
      return this;
    }

    /** {@code [B]} the reward model's raw scores (may be NaN or infinite); required. */
    public Builder scores(double[] v) {
      scores = checkNotNull(v, "scores").clone();
      return this;
    }

    /** {@code [B][N]} the policy's next-token entropies (default: none). */
    public Builder entropy(double[][] v) {
      entropy = checkNotNull(v, "entropy");
      return this;
    }

    /** {@code [B][N]} the value estimates (default: none). */
    public Builder values(double[][] v) {
      values = checkNotNull(v, "values");
      return this;
    }

    /** Response tokens whose KL estimate was clamped (default 0). */
    public Builder klClampedTokens(int v) {
      checkArgument(v >= 0, "klClampedTokens must be >= 0, got %s", v);
      klClamped = v;
      return this;
    }

    /** The rollout; an {@link IllegalArgumentException} names a missing part or a bad shape or value. */
    public Rollout build() {
      checkArgument(length != null && hasEos != null && logProbs != null && refLogProbs != null && kl != null
          && scores != null, "length, hasEos, logProbs, refLogProbs, kl and scores must be set");
      int b = sequences.batchSize();
      checkArgument(length.length == b && hasEos.length == b && scores.length == b,
          "length (%s), hasEos (%s) and scores (%s) must have one entry per sequence (%s)", length.length,
          hasEos.length, scores.length, b);
      for (int i = 0; i < b; i++) {
        checkArgument(length[i] >= 0 && length[i] <= steps, "length[%s] = %s is outside [0, %s]", i, length[i], steps);
      }
      return new Rollout(sequences, promptLength, steps, length, hasEos, identity(b),
          checkRows("logProbs", logProbs, b, steps), checkRows("refLogProbs", refLogProbs, b, steps),
          entropy == null ? null : checkRows("entropy", entropy, b, steps),
          values == null ? null : checkRows("values", values, b, steps), checkRows("kl", kl, b, steps), scores,
          klClamped);
    }
  }

  private static double[][] checkRows(String name, double[][] a, int b, int n) {
    checkArgument(a.length == b, "%s has %s rows, expected %s", name, a.length, b);
    double[][] out = new double[b][];
    for (int i = 0; i < b; i++) {
      checkArgument(a[i].length == n, "%s[%s] has %s entries, expected %s", name, i, a[i].length, n);
      for (int t = 0; t < n; t++) {
        checkArgument(Double.isFinite(a[i][t]), "%s[%s][%s] = %s is not finite", name, i, t, a[i][t]);
      }
      out[i] = a[i].clone();
    }
    return out;
  }

  /**
   * The rows of {@code parts} in order, as one rollout: prompts left-padded to the longest padded
   * prompt, responses right-padded (with {@code padId}, mask 0, and 0 in the per-token arrays) to
   * the widest response. Entropies and values are kept when every part has them; row {@code i}'s
   * prompt index is {@code i}; the clamped-token counts add up.
   */
  public static Rollout concat(List<Rollout> parts, int padId) {
    checkArgument(!parts.isEmpty(), "no rollouts to concatenate");
    if (parts.size() == 1) {
      return parts.get(0);
    }
    int p = 0;
    int n = 0;
    int b = 0;
    int clamped = 0;
    boolean withEntropy = true;
    boolean withValues = true;
    for (Rollout r : parts) {
      p = Math.max(p, r.promptLength);
      n = Math.max(n, r.steps);
      b += r.batchSize();
      clamped += r.klClamped;
      withEntropy &= r.entropy != null;
      withValues &= r.values != null;
    }
    int w = p + n;
    int[] ids = new int[b * w];
    int[] mask = new int[b * w];
    Arrays.fill(ids, padId);
    int[] length = new int[b];
    boolean[] hasEos = new boolean[b];
    double[][] logp = new double[b][n];
    double[][] logq = new double[b][n];
    double[][] ent = withEntropy ? new double[b][n] : null;
    double[][] val = withValues ? new double[b][n] : null;
    double[][] kl = new double[b][n];
    double[] scores = new double[b];
    int row = 0;
    for (Rollout r : parts) {
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
        if (withEntropy) {
          System.arraycopy(r.entropy[i], 0, ent[row], 0, r.steps);
        }
        if (withValues) {
          System.arraycopy(r.values[i], 0, val[row], 0, r.steps);
        }
        scores[row] = r.scores[i];
      }
    }
    return new Rollout(TokenBatch.of(b, w, ids, mask), p, n, length, hasEos, identity(b), logp, logq, ent, val, kl, scores, clamped);
  }

  static int[] identity(int b) {
    int[] out = new int[b];
    for (int i = 0; i < b; i++) {
      out[i] = i;
    }
    return out;
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
    return Arrays.copyOf(out, n);
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

  /** Whether the rollout has the policy's entropies (a collected one has; one {@link #of parts} has not). */
  public boolean hasEntropy() {
    return entropy != null;
  }

  /**
   * The policy's next-token entropy at each response position.
   *
   * @throws IllegalStateException if the rollout was built from parts without entropies
   */
  public double[][] entropy() {
    checkState(entropy != null, "this rollout was built from parts without the policy's entropies");
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
