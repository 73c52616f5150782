package org.rlhf4j.core.tensor;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A contiguous, row-major ND4J array of {@code float} or {@code double} together with a host view
 * of its elements, so that the Java kernels of this package can read and write it without a native
 * call per element.
 *
 * <p>The NIO view starts at the array's first element (views of bigger buffers are handled). On a
 * backend with device memory (CUDA), {@link #asFloatBuffer()} and {@link #asDoubleBuffer()} first
 * bring the host copy up to date, and the {@code writable...} accessors mark the host copy as the
 * current one, so kernels stay correct there too (if slower than on the CPU backend).
 */
public final class Tensor {
  private final INDArray array;
  private final FloatBuffer floats;
  private final DoubleBuffer doubles;
  private FloatPointer floatPointer; // for direct BLAS calls, made on first use
  private DoublePointer doublePointer;

  private Tensor(INDArray array) {
    this.array = array;
    DataType type = array.dataType();
    checkArgument(
        type == DataType.FLOAT || type == DataType.DOUBLE,
        "tensor must be FLOAT or DOUBLE, got %s",
        type);
    checkArgument(
        isContiguousRowMajor(array),
        "tensor must be contiguous row-major, got order %s strides %s for shape %s",
        array.ordering(),
        Arrays.toString(array.stride()),
        Arrays.toString(array.shape()));
    checkArgument(array.length() <= Integer.MAX_VALUE, "tensor too large: %s", array.length());
    ByteBuffer bytes = array.data().asNio().order(ByteOrder.nativeOrder());
    int offset = Math.toIntExact(array.offset());
    int length = (int) array.length();
    if (type == DataType.FLOAT) {
      FloatBuffer all = bytes.asFloatBuffer();
      all.position(offset).limit(offset + length);
      floats = all.slice();
      doubles = null;
    } else {
      DoubleBuffer all = bytes.asDoubleBuffer();
      all.position(offset).limit(offset + length);
      doubles = all.slice();
      floats = null;
    }
  }

  /** Whether the elements of {@code a} are contiguous in row-major order (strides of size-1 dims ignored). */
  static boolean isContiguousRowMajor(INDArray a) {
    long[] shape = a.shape();
    long[] stride = a.stride();
    long expected = 1;
    for (int i = shape.length - 1; i >= 0; i--) {
      if (shape[i] != 1 && stride[i] != expected) {
        return false;
      }
      expected *= shape[i];
    }
    return true;
  }

  /** Wraps {@code array}, which must be contiguous, row-major and FLOAT or DOUBLE. */
  public static Tensor of(INDArray array) {
    return new Tensor(array);
  }

  /** The wrapped array. */
  public INDArray array() {
    return array;
  }

  /** The element type. */
  public DataType dataType() {
    return array.dataType();
  }

  /** The number of elements. */
  public int length() {
    return (int) array.length();
  }

  /** The shape (a copy). */
  public long[] shape() {
    return array.shape();
  }

  /** The elements of a FLOAT tensor, for reading (and writing, for in-place updates). */
  public FloatBuffer asFloatBuffer() {
    checkState(floats != null, "not a FLOAT tensor: %s", array.dataType());
    Nd4j.getAffinityManager().ensureLocation(array, AffinityManager.Location.HOST);
    return floats;
  }

  /** The elements of a DOUBLE tensor, for reading (and writing, for in-place updates). */
  public DoubleBuffer asDoubleBuffer() {
    checkState(doubles != null, "not a DOUBLE tensor: %s", array.dataType());
    Nd4j.getAffinityManager().ensureLocation(array, AffinityManager.Location.HOST);
    return doubles;
  }

  /** The elements of a FLOAT tensor about to be written by a kernel. */
  public FloatBuffer writableFloatBuffer() {
    FloatBuffer b = asFloatBuffer();
    Nd4j.getAffinityManager().tagLocation(array, AffinityManager.Location.HOST);
    return b;
  }

  /** The elements of a DOUBLE tensor about to be written by a kernel. */
  public DoubleBuffer writableDoubleBuffer() {
    DoubleBuffer b = asDoubleBuffer();
    Nd4j.getAffinityManager().tagLocation(array, AffinityManager.Location.HOST);
    return b;
  }

  /** The sub-tensor of indices {@code [from, to)} along dimension 0 (a view, still contiguous). */
  public Tensor rows(long from, long to) {
    checkArgument(0 <= from && from <= to && to <= array.size(0), "rows [%s, %s) of %s", from, to, array.size(0));
    if (from == 0 && to == array.size(0)) {
      return this;
    }
    INDArray view;
    if (array.rank() == 1) {
      view = array.get(NDArrayIndex.interval(from, to));
    } else {
      INDArrayIndex[] idx = new INDArrayIndex[array.rank()];
      idx[0] = NDArrayIndex.interval(from, to);
      for (int i = 1; i < idx.length; i++) {
        idx[i] = NDArrayIndex.all();
      }
      view = array.get(idx);
    }
    return new Tensor(view);
  }

  /** The same elements seen with another shape of equal length (a view). */
  public Tensor reshape(long... shape) {
    long n = 1;
    for (long s : shape) {
      n *= s;
    }
    checkArgument(n == array.length(), "cannot view %s elements as %s", array.length(), Arrays.toString(shape));
    return new Tensor(array.reshape('c', shape));
  }

  /** Element {@code i} (row-major), as a double; for non-hot code. */
  public double get(int i) {
    return floats != null ? asFloatBuffer().get(i) : asDoubleBuffer().get(i);
  }

  /** Copies {@code length} elements starting at {@code from} into {@code dst}. */
  public void copyTo(int from, double[] dst, int length) {
    if (floats != null) {
      FloatBuffer b = asFloatBuffer();
      for (int i = 0; i < length; i++) {
        dst[i] = b.get(from + i);
      }
    } else {
      DoubleBuffer b = asDoubleBuffer();
      for (int i = 0; i < length; i++) {
        dst[i] = b.get(from + i);
      }
    }
  }

  /** The address of element 0 of a FLOAT tensor on the CPU backend, for native BLAS calls. */
  FloatPointer floatPointer() {
    FloatPointer p = floatPointer;
    if (p == null) {
      p = new FloatPointer(asFloatBuffer());
      floatPointer = p;
    }
    return p;
  }

  /** The address of element 0 of a DOUBLE tensor on the CPU backend, for native BLAS calls. */
  DoublePointer doublePointer() {
    DoublePointer p = doublePointer;
    if (p == null) {
      p = new DoublePointer(asDoubleBuffer());
      doublePointer = p;
    }
    return p;
  }

  /** Sets every element to zero. */
  public void zero() {
    array.assign(0);
  }

  @Override
  public String toString() {
    return "Tensor" + Arrays.toString(array.shape()) + " " + array.dataType();
  }
}
