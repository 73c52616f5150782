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
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A contiguous, row-major ND4J array of {@code float} or {@code double} together with a host view
 * of its elements, so that the Java kernels of this package can read and write it without a native
 * call per element.
 *
 * <p>{@link #rows} and {@link #reshape} are cheap: a view shares its source's memory and records
 * only an element offset and a shape (no ND4J call, which costs microseconds — more than many of
 * the kernels and products at decoding sizes); its ND4J array is made on the first call of {@link
 * #array()}. The NIO view starts at the tensor's first element (views of bigger buffers are
 * handled). On a backend with device memory (CUDA), {@link #asFloatBuffer()} and {@link
 * #asDoubleBuffer()} first bring the host copy up to date, and the {@code writable...} accessors
 * mark the host copy as the current one, so kernels stay correct there too (if slower than on the
 * CPU backend).
 */
public final class Tensor {
  /** What all views of one wrapped array share: the array and its elements seen from Java and C. */
  private static final class Base {
    final INDArray root; // contiguous, row-major
    final int length;
    final FloatBuffer floats; // element 0 = the root's element 0, or null
    final DoubleBuffer doubles;
    private volatile FloatPointer floatPointer; // made on first use
    private volatile DoublePointer doublePointer;
    private volatile INDArray flat; // the root as a vector, for making views' arrays

    Base(INDArray root) {
      this.root = root;
      this.length = (int) root.length();
      ByteBuffer bytes = root.data().asNio().order(ByteOrder.nativeOrder());
      int offset = Math.toIntExact(root.offset());
      if (root.dataType() == DataType.FLOAT) {
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

    FloatPointer floatPointer() {
      FloatPointer p = floatPointer;
      if (p == null) {
        p = new FloatPointer(floats);
        floatPointer = p;
      }
      return p;
    }

    DoublePointer doublePointer() {
      DoublePointer p = doublePointer;
      if (p == null) {
        p = new DoublePointer(doubles);
        doublePointer = p;
      }
      return p;
    }

    INDArray flat() {
      INDArray f = flat;
      if (f == null) {
        f = root.reshape('c', new long[] {length});
        flat = f;
      }
      return f;
    }
  }

  private final Base base;
  private final DataType type;
  private final long[] shape;
  private final int offset; // of element 0 in the base
  private final int length;
  private final FloatBuffer floats;
  private final DoubleBuffer doubles;
  private volatile INDArray array; // made on first use for views
  private volatile FloatPointer floatPointer; // for direct BLAS calls, made on first use
  private volatile DoublePointer doublePointer;

  private Tensor(INDArray array) {
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
    this.base = new Base(array);
    this.type = type;
    this.shape = array.shape();
    this.offset = 0;
    this.length = base.length;
    this.floats = base.floats;
    this.doubles = base.doubles;
    this.array = array;
  }

  /** A view of {@code length} elements of {@code base} from {@code offset}, with {@code shape}. */
  private Tensor(Base base, DataType type, long[] shape, int offset, int length) {
    this.base = base;
    this.type = type;
    this.shape = shape;
    this.offset = offset;
    this.length = length;
    if (offset == 0 && length == base.length) {
      this.floats = base.floats;
      this.doubles = base.doubles;
    } else if (base.floats != null) {
      this.floats = base.floats.duplicate().position(offset).limit(offset + length).slice();
      this.doubles = null;
    } else {
      this.doubles = base.doubles.duplicate().position(offset).limit(offset + length).slice();
      this.floats = null;
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

  /** The byte boundary on which {@link #alignedView} starts: a cache line, and one AVX-512 vector. */
  public static final int ALIGNMENT = 64;

  /**
   * The {@code length} elements of the 1-D FLOAT or DOUBLE {@code buffer} that begin at its first
   * {@link #ALIGNMENT}-byte boundary, as a view; {@code buffer} needs {@code ALIGNMENT / element size}
   * elements more than {@code length} (see {@link #alignedLength}) and stays the array to close. ND4J
   * aligns its buffers to 16 bytes only: without this, work split between threads at multiples of 16
   * floats shares a cache line at every split, and vector loads straddle two lines.
   */
  public static INDArray alignedView(INDArray buffer, long length) {
    checkArgument(buffer.rank() == 1 && (buffer.dataType() == DataType.FLOAT || buffer.dataType() == DataType.DOUBLE),
        "aligned views are of 1-D FLOAT or DOUBLE arrays, got %s %s", buffer.dataType(), Arrays.toString(buffer.shape()));
    checkArgument(buffer.length() >= alignedLength(buffer.dataType(), length), "buffer of %s elements too short to align %s", buffer.length(), length);
    int size = buffer.dataType() == DataType.DOUBLE ? 8 : 4;
    long skip = ((ALIGNMENT - of(buffer).address() % ALIGNMENT) % ALIGNMENT) / size;
    return buffer.get(NDArrayIndex.interval(skip, skip + length));
  }

  /** The length of a buffer from which {@link #alignedView} can take {@code length} elements. */
  public static long alignedLength(DataType type, long length) {
    return length + ALIGNMENT / (type == DataType.DOUBLE ? 8 : 4);
  }

  /** Wraps {@code array}, which must be contiguous, row-major and FLOAT or DOUBLE. */
  public static Tensor of(INDArray array) {
    return new Tensor(array);
  }

  /** The wrapped array (for a view made by {@link #rows} or {@link #reshape}: a view of the source array). */
  public INDArray array() {
    INDArray a = array;
    if (a == null) {
      INDArray flat = base.flat();
      INDArray part = offset == 0 && length == base.length ? flat : flat.get(NDArrayIndex.interval(offset, offset + length));
      a = shape.length == 1 ? part : part.reshape('c', shape);
      array = a;
    }
    return a;
  }

  /** The element type. */
  public DataType dataType() {
    return type;
  }

  /** The number of elements. */
  public int length() {
    return length;
  }

  /** The shape (a copy). */
  public long[] shape() {
    return shape.clone();
  }

  /** The size of dimension {@code i}. */
  public long size(int i) {
    return shape[i];
  }

  /** The number of dimensions. */
  public int rank() {
    return shape.length;
  }

  /** The elements of a FLOAT tensor, for reading (and writing, for in-place updates). */
  public FloatBuffer asFloatBuffer() {
    checkState(floats != null, "not a FLOAT tensor: %s", type);
    Nd4j.getAffinityManager().ensureLocation(base.root, AffinityManager.Location.HOST);
    return floats;
  }

  /** The elements of a DOUBLE tensor, for reading (and writing, for in-place updates). */
  public DoubleBuffer asDoubleBuffer() {
    checkState(doubles != null, "not a DOUBLE tensor: %s", type);
    Nd4j.getAffinityManager().ensureLocation(base.root, AffinityManager.Location.HOST);
    return doubles;
  }

  /** The elements of a FLOAT tensor about to be written by a kernel. */
  public FloatBuffer writableFloatBuffer() {
    FloatBuffer b = asFloatBuffer();
    Nd4j.getAffinityManager().tagLocation(base.root, AffinityManager.Location.HOST);
    return b;
  }

  /** The elements of a DOUBLE tensor about to be written by a kernel. */
  public DoubleBuffer writableDoubleBuffer() {
    DoubleBuffer b = asDoubleBuffer();
    Nd4j.getAffinityManager().tagLocation(base.root, AffinityManager.Location.HOST);
    return b;
  }

  /** The sub-tensor of indices {@code [from, to)} along dimension 0 (a view, still contiguous). */
  public Tensor rows(long from, long to) {
    long size0 = shape.length == 0 ? 1 : shape[0];
    checkArgument(0 <= from && from <= to && to <= size0, "rows [%s, %s) of %s", from, to, size0);
    if (from == 0 && to == size0) {
      return this;
    }
    long inner = size0 == 0 ? 0 : length / size0;
    long[] s = shape.clone();
    s[0] = to - from;
    return new Tensor(base, type, s, (int) (offset + from * inner), (int) ((to - from) * inner));
  }

  /** The same elements seen with another shape of equal length (a view). */
  public Tensor reshape(long... shape) {
    long n = 1;
    for (long s : shape) {
      n *= s;
    }
    checkArgument(n == length, "cannot view %s elements as %s", length, Arrays.toString(shape));
    if (Arrays.equals(shape, this.shape)) {
      return this;
    }
    return new Tensor(base, type, shape.clone(), offset, length);
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
      asFloatBuffer();
      FloatPointer b = base.floatPointer();
      p = offset == 0 ? b : new FloatPointer(b).position(b.position() + offset);
      floatPointer = p;
    }
    return p;
  }

  /** The address of element 0 of a DOUBLE tensor on the CPU backend, for native BLAS calls. */
  DoublePointer doublePointer() {
    DoublePointer p = doublePointer;
    if (p == null) {
      asDoubleBuffer();
      DoublePointer b = base.doublePointer();
      p = offset == 0 ? b : new DoublePointer(b).position(b.position() + offset);
      doublePointer = p;
    }
    return p;
  }

  /** The native address of element 0 (CPU backend). */
  long address() {
    if (type == DataType.FLOAT) {
      FloatPointer p = floatPointer();
      return p.address() + p.position() * 4L;
    }
    DoublePointer p = doublePointer();
    return p.address() + p.position() * 8L;
  }

  /** Zeros copied in bulk by {@link #zero()}. */
  private static final float[] ZERO_FLOATS = new float[4096];
  private static final double[] ZERO_DOUBLES = new double[4096];

  /**
   * Sets every element to zero: bulk copies from a block of zeros (memory-speed; ND4J's {@code
   * assign(0)} took 1.5 times as long on the gradient buffers, views or not).
   */
  public void zero() {
    if (floats != null) {
      FloatBuffer b = writableFloatBuffer();
      for (int i = 0; i < length; i += ZERO_FLOATS.length) {
        b.put(i, ZERO_FLOATS, 0, Math.min(ZERO_FLOATS.length, length - i));
      }
    } else {
      DoubleBuffer b = writableDoubleBuffer();
      for (int i = 0; i < length; i += ZERO_DOUBLES.length) {
        b.put(i, ZERO_DOUBLES, 0, Math.min(ZERO_DOUBLES.length, length - i));
      }
    }
  }

  @Override
  public String toString() {
    return "Tensor" + Arrays.toString(shape) + " " + type;
  }
}
