package org.rlhf4j.core.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Views made by {@link Tensor#rows} and {@link Tensor#reshape} (which record an offset and a shape
 * and make their ND4J array only on demand) see the same elements as the ND4J views they stand for:
 * through the NIO buffer, through {@link Tensor#array()} (reads and writes), through the BLAS
 * pointer, and when zeroed; and bad ranges and shapes are errors naming the values. Aligned views
 * and arena tensors start on a 64-byte boundary.
 */
class TensorTest {

  private static INDArray counting(DataType type, long... shape) {
    long n = 1;
    for (long s : shape) {
      n *= s;
    }
    // An odd offset inside a bigger buffer, as the arena hands out.
    INDArray buf = Nd4j.linspace(0, n + 6, n + 7, type);
    return buf.get(NDArrayIndex.interval(3, 3 + n)).reshape('c', shape);
  }

  @Test
  void rowsAndReshapeViewTheSameElementsAsNd4jViews() {
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      INDArray src = counting(type, 6, 4, 5);
      Tensor t = Tensor.of(src);
      Tensor v = t.rows(2, 5).rows(1, 3).reshape(10, 4); // rows 3 and 4 of src, seen as [10, 4]
      INDArray want = src.get(NDArrayIndex.interval(3, 5), NDArrayIndex.all(), NDArrayIndex.all()).dup().reshape('c', 10, 4);
      assertArrayEquals(new long[] {10, 4}, v.shape());
      assertEquals(40, v.length());
      assertEquals(type, v.dataType());
      assertEquals(want, v.array().castTo(type));
      for (int i = 0; i < 40; i++) {
        assertEquals(want.getDouble(i / 4, i % 4), v.get(i), 0.0);
      }
      // Writes through the view's array and through its buffer reach the source.
      v.array().putScalar(new long[] {0, 0}, -1);
      assertEquals(-1, src.getDouble(3, 0, 0), 0.0);
      if (type == DataType.FLOAT) {
        v.writableFloatBuffer().put(39, -2f);
      } else {
        v.writableDoubleBuffer().put(39, -2.0);
      }
      assertEquals(-2, src.getDouble(4, 3, 4), 0.0);
      // Zeroing a view zeroes exactly its elements.
      t.rows(1, 2).zero();
      assertEquals(0.0, src.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.all()).amaxNumber().doubleValue(), 0.0);
      assertEquals(src.getDouble(0, 3, 4) + 21, src.getDouble(2, 0, 0), 1e-3);
    }
  }

  @Test
  void productsOnViewsUseTheViewsElements() {
    INDArray src = counting(DataType.DOUBLE, 8, 3);
    Tensor t = Tensor.of(src);
    Tensor a = t.rows(5, 7); // [2, 3]
    Tensor b = t.rows(1, 4).reshape(3, 3);
    Tensor c = Tensor.of(Nd4j.create(DataType.DOUBLE, 2, 3));
    Blas.gemm(a, b, c, false, false);
    INDArray want = src.get(NDArrayIndex.interval(5, 7), NDArrayIndex.all()).mmul(src.get(NDArrayIndex.interval(1, 4), NDArrayIndex.all()));
    assertEquals(0.0, want.sub(c.array()).amaxNumber().doubleValue(), 1e-9);
  }

  @Test
  void alignedViewsAndArenaTensorsStartOnA64ByteBoundary() {
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      int size = type == DataType.DOUBLE ? 8 : 4;
      for (int n = 1; n < 40; n += 3) { // buffers of many lengths land on many 16-byte offsets
        INDArray buf = Nd4j.create(type, Tensor.alignedLength(type, n));
        INDArray view = Tensor.alignedView(buf, n);
        Tensor t = Tensor.of(view);
        assertEquals(0, t.address() % Tensor.ALIGNMENT, type + " view of " + n);
        assertEquals(n, t.length());
        view.putScalar(n - 1, 7.0);
        long skip = (t.address() - Tensor.of(buf).address()) / size;
        assertEquals(7.0, buf.getDouble(skip + n - 1), 0.0, "the view shares the buffer's elements");
      }
      try (Arena arena = new Arena(type)) {
        Tensor[] taken = new Tensor[4];
        arena.layout(a -> {
          taken[0] = a.take(3);
          taken[1] = a.take(5, 7);
          taken[2] = a.take(1);
          taken[3] = a.take(64, 17);
        });
        for (Tensor x : taken) {
          assertEquals(0, x.address() % Tensor.ALIGNMENT, type + " " + x);
        }
      }
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.alignedView(Nd4j.create(DataType.FLOAT, 20), 8));
    assertEquals("buffer of 20 elements too short to align 8", e.getMessage());
  }

  @Test
  void badRangesAndShapesAreErrors() {
    Tensor t = Tensor.of(counting(DataType.FLOAT, 4, 3));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.rows(2, 5));
    assertEquals("rows [2, 5) of 4", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> t.reshape(5, 2));
    assertEquals("cannot view 12 elements as [5, 2]", e.getMessage());
  }
}
