package org.rlhf4j.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link Blas#rowTimesBlock}, the per-thread share of a split decode-step product, and the {@link
 * DecodeKernels}: against a Java reference in double for float and double, on operands at offsets;
 * a split by column blocks gives the unsplit product and writes every output column exactly once
 * (and nothing else); a split by rows gives partial sums that add up to the product; {@code
 * accumulate} adds; bad blocks are rejected with the bad range in the message; the head-range KV
 * append equals the all-heads one and touches only its heads; partial sums are added up.
 */
class RowTimesBlockTest {
  private static final double SENTINEL = 12345.0;

  private static Tensor random(Random r, DataType type, int n) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = r.nextGaussian();
    }
    return Tensor.of(Nd4j.create(v, new long[] {n}, 'c').castTo(type));
  }

  private static Tensor filled(DataType type, int n, double value) {
    return Tensor.of(Nd4j.valueArrayOf(new long[] {n}, value, type));
  }

  /** {@code sum_{p < rows} x[xOff + p] * b[row0 + p, col0 + j]} in double. */
  private static double ref(Tensor x, int xOff, Tensor b, int row0, int rows, int col0, int j) {
    int ldb = (int) b.size(1);
    double s = 0;
    for (int p = 0; p < rows; p++) {
      s += x.get(xOff + p) * b.get((row0 + p) * ldb + col0 + j);
    }
    return s;
  }

  @Test
  void columnBlocksGiveTheUnsplitProductAndWriteEachColumnOnce() {
    Random r = new Random(7);
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      double tol = type == DataType.FLOAT ? 1e-5 : 1e-12;
      int k = 70;
      int n = 200;
      Tensor b = random(r, type, k * n).reshape(k, n);
      Tensor x = random(r, type, k + 3); // the row starts at offset 3
      Tensor whole = filled(type, n + 5, SENTINEL);
      Blas.rowTimesBlock(x, 3, b, 0, k, 0, n, whole, 5, false);
      Tensor split = filled(type, n + 5, SENTINEL);
      int[] edges = {0, 16, 64, 65, 128, 200}; // ragged blocks, one of a single column
      int[] writes = new int[n];
      for (int e = 0; e + 1 < edges.length; e++) {
        Tensor y = filled(type, n + 5, Double.NaN); // a block must not read the output's old values
        Blas.rowTimesBlock(x, 3, b, 0, k, edges[e], edges[e + 1] - edges[e], y, 5 + edges[e], false);
        for (int i = 0; i < n + 5; i++) {
          boolean inside = i >= 5 + edges[e] && i < 5 + edges[e + 1];
          if (inside) {
            writes[i - 5]++;
            split.array().putScalar(i, y.get(i));
          } else {
            assertTrue(Double.isNaN(y.get(i)), type + ": block " + e + " wrote element " + i + " outside its columns");
          }
        }
      }
      for (int j = 0; j < n; j++) {
        assertEquals(1, writes[j], "column " + j + " written once");
        double want = ref(x, 3, b, 0, k, 0, j);
        assertEquals(want, whole.get(5 + j), tol * (1 + Math.abs(want)), type + " column " + j);
        assertEquals(whole.get(5 + j), split.get(5 + j), tol * (1 + Math.abs(want)), type + " split column " + j);
      }
      for (int i = 0; i < 5; i++) {
        assertEquals(SENTINEL, whole.get(i), type + ": element " + i + " before the output is untouched");
      }
    }
  }

  @Test
  void rowBlocksGivePartialSumsAndAccumulateAdds() {
    Random r = new Random(8);
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      double tol = type == DataType.FLOAT ? 1e-5 : 1e-12;
      int k = 96;
      int n = 48;
      Tensor b = random(r, type, k * n).reshape(k, n);
      Tensor x = random(r, type, k);
      Tensor y = random(r, type, n);
      double[] before = new double[n];
      for (int j = 0; j < n; j++) {
        before[j] = y.get(j);
      }
      // y += x[0:40] b[0:40, :], then y += x[40:96] b[40:96, :]: y + the whole product
      Blas.rowTimesBlock(x, 0, b, 0, 40, 0, n, y, 0, true);
      Blas.rowTimesBlock(x, 40, b, 40, k - 40, 0, n, y, 0, true);
      for (int j = 0; j < n; j++) {
        double want = before[j] + ref(x, 0, b, 0, k, 0, j);
        assertEquals(want, y.get(j), tol * (1 + Math.abs(want)), type + " column " + j);
      }
    }
  }

  @Test
  void blocksOutsideTheOperandsAreRejected() {
    Tensor b = filled(DataType.FLOAT, 12, 1).reshape(3, 4);
    Tensor x = filled(DataType.FLOAT, 3, 1);
    Tensor y = filled(DataType.FLOAT, 4, 0);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Blas.rowTimesBlock(x, 0, b, 0, 3, 2, 3, y, 0, false));
    assertTrue(e.getMessage().contains("columns [2, 5)"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Blas.rowTimesBlock(x, 1, b, 0, 3, 0, 4, y, 0, false));
    assertTrue(e.getMessage().contains("x [1, 4)"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Blas.rowTimesBlock(x, 0, b, 0, 3, 0, 4, filled(DataType.DOUBLE, 4, 0), 0, false));
  }

  /** The q, k and v columns of heads {@code [h0, h1)} of {@code qkv [1, 3d]}, side by side, via {@link DecodeKernels#copyColumns}. */
  private static Tensor packed(Tensor qkv, int d, int dh, int h0, int h1) {
    int w = (h1 - h0) * dh;
    Tensor out = filled(qkv.dataType(), 3 * w, SENTINEL).reshape(1, 3 * w);
    for (int s = 0; s < 3; s++) {
      DecodeKernels.of(qkv.dataType()).copyColumns(qkv, s * d + h0 * dh, w, out, s * w);
    }
    for (int i = 0; i < 3 * w; i++) {
      assertTrue(out.get(i) != SENTINEL, "packed element " + i + " written");
    }
    return out;
  }

  @Test
  void copyColumnsCopiesABlockAndRejectsBlocksOutside() {
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      Tensor src = random(new Random(3), type, 4 * 7).reshape(4, 7);
      Tensor dst = filled(type, 4 * 5, SENTINEL).reshape(4, 5);
      DecodeKernels.of(type).copyColumns(src, 2, 3, dst, 1);
      for (int r = 0; r < 4; r++) {
        for (int j = 0; j < 5; j++) {
          double want = j >= 1 && j < 4 ? src.get(r * 7 + 2 + j - 1) : SENTINEL;
          assertEquals(want, dst.get(r * 5 + j), type + " row " + r + " column " + j);
        }
      }
      assertThrows(IllegalArgumentException.class, () -> DecodeKernels.of(type).copyColumns(src, 5, 3, dst, 0));
      assertThrows(IllegalArgumentException.class, () -> DecodeKernels.of(type).copyColumns(src, 0, 3, dst, 3));
    }
  }

  @Test
  void headRangeAppendEqualsTheAllHeadsAppend() {
    Random r = new Random(9);
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      int heads = 5;
      int dh = 3;
      int d = heads * dh;
      int capacity = 4;
      int position = 2;
      Tensor qkv = random(r, type, 3 * d).reshape(1, 3 * d);
      Tensor bias = random(r, type, 3 * d);
      Tensor q1 = filled(type, d, SENTINEL).reshape(heads, dh);
      Tensor k1 = filled(type, heads * capacity * dh, SENTINEL).reshape(heads, capacity, dh);
      Tensor v1 = filled(type, heads * capacity * dh, SENTINEL).reshape(heads, capacity, dh);
      AttentionKernels.of(type).appendKv(qkv, bias, q1, k1, v1, 1, heads, dh, capacity, position);
      Tensor q2 = filled(type, d, SENTINEL).reshape(heads, dh);
      Tensor k2 = filled(type, heads * capacity * dh, SENTINEL).reshape(heads, capacity, dh);
      Tensor v2 = filled(type, heads * capacity * dh, SENTINEL).reshape(heads, capacity, dh);
      DecodeKernels dk = DecodeKernels.of(type);
      dk.appendKvHeadsPacked(packed(qkv, d, dh, 0, 2), bias, q2, k2, v2, heads, dh, capacity, position, 0, 2);
      for (int h = 2; h < heads; h++) { // heads 2..4 not yet written
        assertEquals(SENTINEL, q2.get(h * dh), type + " q of head " + h);
        assertEquals(SENTINEL, k2.get((h * capacity + position) * dh), type + " key of head " + h);
        assertEquals(SENTINEL, v2.get((h * capacity + position) * dh), type + " value of head " + h);
      }
      dk.appendKvHeadsPacked(packed(qkv, d, dh, 2, 3), bias, q2, k2, v2, heads, dh, capacity, position, 2, 3);
      dk.appendKvHeadsPacked(packed(qkv, d, dh, 3, 5), bias, q2, k2, v2, heads, dh, capacity, position, 3, 5);
      for (int i = 0; i < d; i++) {
        assertEquals(q1.get(i), q2.get(i), type + " q " + i);
      }
      for (int i = 0; i < heads * capacity * dh; i++) {
        assertEquals(k1.get(i), k2.get(i), type + " k cache " + i);
        assertEquals(v1.get(i), v2.get(i), type + " v cache " + i);
      }
      assertEquals(SENTINEL, k2.get(0), "other positions untouched");
      assertTrue(k2.get(position * dh) != SENTINEL, "the position is written");
    }
  }

  @Test
  void partialsAreAddedInOrder() {
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      int cols = 3;
      Tensor src = Tensor.of(Nd4j.create(new double[] {1, 2, 3}, new long[] {3}, 'c').castTo(type));
      Tensor bias = Tensor.of(Nd4j.create(new double[] {10, 20, 30}, new long[] {3}, 'c').castTo(type));
      Tensor[] partials = {
          Tensor.of(Nd4j.create(new double[] {100, 200, 300}, new long[] {3}, 'c').castTo(type)),
          Tensor.of(Nd4j.create(new double[] {1000, 2000, 3000, 7}, new long[] {4}, 'c').castTo(type))}; // only cols elements count
      DecodeKernels.of(type).addPartials(src, bias, partials, src, cols);
      assertEquals(1111, src.get(0), type.toString());
      assertEquals(2222, src.get(1), type.toString());
      assertEquals(3333, src.get(2), type.toString());
    }
  }
}
