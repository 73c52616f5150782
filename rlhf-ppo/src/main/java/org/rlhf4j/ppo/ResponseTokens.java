package org.rlhf4j.ppo;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Moves per-token quantities between the model's sequence layout and the response layout. A
 * sequence is {@code P} (left-padded) prompt positions then {@code N} response positions; response
 * token {@code j} sits at position {@code P + j}, is predicted at position {@code P - 1 + j}, and its
 * log-probability, entropy and value are read there: {@code [B, P+N-1]} log-prob arrays and {@code
 * [B, P+N]} value arrays map to ragged {@code [B][N]} rows.
 */
final class ResponseTokens {
  private ResponseTokens() {}

  /** {@code out[b][j] = a[b, P - 1 + j]} for {@code j < N}. */
  static double[][] gather(INDArray a, int promptLength, int n) {
    int b = (int) a.size(0);
    double[][] out = new double[b][n];
    INDArray d = a.castTo(DataType.DOUBLE);
    for (int i = 0; i < b; i++) {
      double[] row = d.getRow(i).toDoubleVector();
      System.arraycopy(row, promptLength - 1, out[i], 0, n);
    }
    return out;
  }

  /** The inverse of {@link #gather}: a {@code [B, width]} array, zero outside the response positions. */
  static INDArray scatter(double[][] rows, int promptLength, int width, DataType type) {
    double[] flat = new double[rows.length * width];
    for (int i = 0; i < rows.length; i++) {
      System.arraycopy(rows[i], 0, flat, i * width + promptLength - 1, rows[i].length);
    }
    return Nd4j.createFromArray(flat).reshape(rows.length, width).castTo(type);
  }

  /** Selects rows {@code idx} of ragged arrays. */
  static double[][] rows(double[][] a, int[] idx) {
    double[][] out = new double[idx.length][];
    for (int i = 0; i < idx.length; i++) {
      out[i] = a[idx[i]];
    }
    return out;
  }

  /** Selects entries {@code idx}. */
  static int[] rows(int[] a, int[] idx) {
    int[] out = new int[idx.length];
    for (int i = 0; i < idx.length; i++) {
      out[i] = a[idx[i]];
    }
    return out;
  }
}
