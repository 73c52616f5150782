package org.rlhf4j.core.io;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import com.google.common.primitives.Longs;
import java.util.List;

/**
 * The header entry of one tensor in a safetensors file: its name, element type, shape and the byte
 * range of its data. The range ({@code begin}, {@code end}) is relative to the start of the data
 * section, as in the file's {@code data_offsets}.
 *
 * @param name the tensor's name
 * @param dtype the element type
 * @param shape the dimensions, outermost first; empty for a scalar
 * @param begin the first byte of the data, relative to the data section
 * @param end one past the last byte of the data, relative to the data section
 */
public record TensorInfo(
    String name, SafetensorsDtype dtype, List<Long> shape, long begin, long end) {

  /**
   * Validates and copies the fields.
   *
   * @throws IllegalArgumentException if a dimension is negative, the element count overflows, or
   *     the byte range does not match the dtype and shape
   */
  public TensorInfo {
    checkNotNull(name, "name");
    checkNotNull(dtype, "dtype of tensor %s", name);
    shape = ImmutableList.copyOf(shape);
    checkArgument(
        begin >= 0 && end >= begin, "tensor %s: bad byte range [%s, %s]", name, begin, end);
    long bytes = byteCount(dtype, Longs.toArray(shape));
    checkArgument(
        bytes >= 0 && end - begin == bytes,
        "tensor %s: byte range [%s, %s] does not fit dtype %s and shape %s",
        name,
        begin,
        end,
        dtype,
        shape);
  }

  /** The shape as an array (a fresh copy). */
  public long[] shapeArray() {
    return Longs.toArray(shape);
  }

  /** The number of elements: the product of the dimensions (1 for a scalar). */
  public long elementCount() {
    return (end - begin) / dtype.size();
  }

  /** The number of bytes of data, {@code end - begin}. */
  public long byteLength() {
    return end - begin;
  }

  /**
   * The number of bytes a tensor of {@code dtype} and {@code shape} takes, or -1 if a dimension is
   * negative or the count overflows a long.
   *
   * @param dtype the element type
   * @param shape the dimensions
   * @return the byte count, or -1
   */
  static long byteCount(SafetensorsDtype dtype, long[] shape) {
    long n = elementCount(shape);
    if (n < 0 || n > Long.MAX_VALUE / dtype.size()) {
      return -1;
    }
    return n * dtype.size();
  }

  /** The product of {@code shape}, or -1 if a dimension is negative or the product overflows. */
  static long elementCount(long[] shape) {
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        return -1;
      }
      try {
        n = Math.multiplyExact(n, d);
      } catch (ArithmeticException e) {
        return -1;
      }
    }
    return n;
  }
}
