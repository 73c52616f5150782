package org.rlhf4j.core.model;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A batch of token sequences {@code [B, T]} with an attention mask (1 = real token, 0 = padding).
 * Padding may be on the left (prompts for generation) or the right (training batches); positions are
 * counted over real tokens only, so a left-padded sequence gets the same positions as unpadded.
 * Immutable.
 */
public final class TokenBatch {
  private final int batch;
  private final int length;
  private final int[] ids;
  private final int[] mask;

  private TokenBatch(int batch, int length, int[] ids, int[] mask) {
    checkArgument(batch >= 1, "batch size must be >= 1, got %s", batch);
    checkArgument(length >= 1, "sequence length must be >= 1, got %s", length);
    checkArgument(ids.length == batch * length, "ids has %s elements, expected %s", ids.length, batch * length);
    checkArgument(mask.length == ids.length, "mask has %s elements, expected %s", mask.length, ids.length);
    for (int i = 0; i < mask.length; i++) {
      checkArgument(
          mask[i] == 0 || mask[i] == 1, "mask[%s, %s] must be 0 or 1, got %s", i / length, i % length, mask[i]);
    }
    this.batch = batch;
    this.length = length;
    this.ids = ids;
    this.mask = mask;
  }

  /** A batch from row-major {@code ids} and {@code mask} of {@code batch * length} elements (copied). */
  public static TokenBatch of(int batch, int length, int[] ids, int[] mask) {
    return new TokenBatch(batch, length, ids.clone(), mask.clone());
  }

  /** A batch without padding. */
  public static TokenBatch unpadded(int[][] rows) {
    checkArgument(rows.length >= 1, "no sequences");
    int t = rows[0].length;
    int[] ids = new int[rows.length * t];
    int[] mask = new int[ids.length];
    for (int i = 0; i < rows.length; i++) {
      checkArgument(rows[i].length == t, "row %s has length %s, expected %s", i, rows[i].length, t);
      System.arraycopy(rows[i], 0, ids, i * t, t);
    }
    Arrays.fill(mask, 1);
    return new TokenBatch(rows.length, t, ids, mask);
  }

  /** {@code [B, T]} integer {@code ids} and a {@code [B, T]} 0/1 {@code mask} (any numeric type). */
  public static TokenBatch of(INDArray ids, INDArray mask) {
    checkArgument(ids.rank() == 2, "ids must be [B, T], got rank %s", ids.rank());
    checkArgument(
        mask.rank() == 2 && mask.size(0) == ids.size(0) && mask.size(1) == ids.size(1),
        "mask shape %s must equal ids shape %s",
        Arrays.toString(mask.shape()),
        Arrays.toString(ids.shape()));
    int b = (int) ids.size(0);
    int t = (int) ids.size(1);
    int[] idv = ids.dup('c').reshape(b * (long) t).toIntVector();
    double[] mv = mask.dup('c').reshape(b * (long) t).toDoubleVector();
    int[] m = new int[mv.length];
    for (int i = 0; i < m.length; i++) {
      m[i] = (int) mv[i];
      checkArgument(m[i] == mv[i], "mask[%s, %s] must be 0 or 1, got %s", i / t, i % t, mv[i]);
    }
    return new TokenBatch(b, t, idv, m);
  }

  /** Left-pads {@code sequences} to the longest one (the layout generation needs). */
  public static TokenBatch leftPadded(List<int[]> sequences, int padId) {
    return padded(sequences, padId, true);
  }

  /** Right-pads {@code sequences} to the longest one (the usual training layout). */
  public static TokenBatch rightPadded(List<int[]> sequences, int padId) {
    return padded(sequences, padId, false);
  }

  private static TokenBatch padded(List<int[]> sequences, int padId, boolean left) {
    checkArgument(!sequences.isEmpty(), "no sequences");
    int t = 1;
    for (int[] s : sequences) {
      t = Math.max(t, s.length);
    }
    int b = sequences.size();
    int[] ids = new int[b * t];
    int[] mask = new int[b * t];
    Arrays.fill(ids, padId);
    for (int i = 0; i < b; i++) {
      int[] s = sequences.get(i);
      int start = i * t + (left ? t - s.length : 0);
      System.arraycopy(s, 0, ids, start, s.length);
      Arrays.fill(mask, start, start + s.length, 1);
    }
    return new TokenBatch(b, t, ids, mask);
  }

  /** The rows {@code rows} of this batch, in that order (a new batch of the same length). */
  public TokenBatch select(int[] rows) {
    checkArgument(rows.length >= 1, "no rows selected");
    int[] ids2 = new int[rows.length * length];
    int[] mask2 = new int[rows.length * length];
    for (int i = 0; i < rows.length; i++) {
      checkArgument(rows[i] >= 0 && rows[i] < batch, "row %s outside [0, %s)", rows[i], batch);
      System.arraycopy(ids, rows[i] * length, ids2, i * length, length);
      System.arraycopy(mask, rows[i] * length, mask2, i * length, length);
    }
    return new TokenBatch(rows.length, length, ids2, mask2);
  }

  /** B. */
  public int batchSize() {
    return batch;
  }

  /** T. */
  public int length() {
    return length;
  }

  /** The id at row {@code b}, position {@code t}. */
  public int id(int b, int t) {
    return ids[b * length + t];
  }

  /** The mask at row {@code b}, position {@code t}. */
  public int mask(int b, int t) {
    return mask[b * length + t];
  }

  /** Row-major ids (a copy). */
  public int[] ids() {
    return ids.clone();
  }

  /** Row-major mask (a copy). */
  public int[] mask() {
    return mask.clone();
  }

  /** The number of real tokens in row {@code b}. */
  public int realTokens(int b) {
    int s = 0;
    for (int t = 0; t < length; t++) {
      s += mask[b * length + t];
    }
    return s;
  }

  /** Whether row {@code b} is non-empty with all its padding on the left. */
  public boolean isLeftPadded(int b) {
    int pad = length - realTokens(b);
    for (int t = 0; t < length; t++) {
      if (mask[b * length + t] != (t >= pad ? 1 : 0)) {
        return false;
      }
    }
    return pad < length;
  }

  /** The index of the last real token of row {@code b}, or -1 if the row is all padding. */
  public int lastRealIndex(int b) {
    for (int t = length - 1; t >= 0; t--) {
      if (mask[b * length + t] != 0) {
        return t;
      }
    }
    return -1;
  }

  /**
   * Copies rows {@code [from, to)} into the arrays (each at least {@code (to - from) * length()}
   * long): ids, mask and positions (counted over real tokens, so padding does not shift them), for a
   * model's forward pass over a shard of the batch.
   */
  public void copyRows(int from, int to, int[] idsOut, int[] maskOut, int[] positionsOut) {
    System.arraycopy(ids, from * length, idsOut, 0, (to - from) * length);
    System.arraycopy(mask, from * length, maskOut, 0, (to - from) * length);
    for (int r = 0; r < to - from; r++) {
      int seen = 0;
      for (int t = 0; t < length; t++) {
        int i = r * length + t;
        seen += maskOut[i];
        positionsOut[i] = Math.max(0, seen - 1);
      }
    }
  }

  /** The {@code [B, T]} ids as an INT array. */
  public INDArray idsArray() {
    return Nd4j.createFromArray(ids).reshape(batch, length);
  }

  /** The {@code [B, T]} mask as an INT array. */
  public INDArray maskArray() {
    return Nd4j.createFromArray(mask).reshape(batch, length);
  }
}
