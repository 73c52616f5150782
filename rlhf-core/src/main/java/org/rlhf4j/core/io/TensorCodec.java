package org.rlhf4j.core.io;

import java.nio.ByteBuffer;

/**
 * Converts between little-endian safetensors element bytes and Java arrays, one chunk at a time.
 * Every method reads or writes exactly {@code count} elements at the buffer's position and advances
 * it; buffers must be little-endian.
 */
final class TensorCodec {
  private TensorCodec() {}

  /**
   * Decodes {@code count} elements of {@code dtype} (any dtype) into {@code dst[off..]} as floats.
   */
  static void toFloat(SafetensorsDtype dtype, ByteBuffer src, float[] dst, int off, int count) {
    int end = off + count;
    switch (dtype) {
      case F32 -> {
        src.asFloatBuffer().get(dst, off, count);
        src.position(src.position() + 4 * count);
      }
      case F64 -> {
        for (int i = off; i < end; i++) {
          dst[i] = (float) src.getDouble();
        }
      }
      case F16 -> {
        for (int i = off; i < end; i++) {
          dst[i] = HalfFloats.float16ToFloat(src.getShort());
        }
      }
      case BF16 -> {
        for (int i = off; i < end; i++) {
          dst[i] = HalfFloats.bfloat16ToFloat(src.getShort());
        }
      }
      default -> {
        for (int i = off; i < end; i++) {
          dst[i] = integer(dtype, src);
        }
      }
    }
  }

  /**
   * Decodes {@code count} elements of {@code dtype} (any dtype) into {@code dst[off..]} as doubles.
   */
  static void toDouble(SafetensorsDtype dtype, ByteBuffer src, double[] dst, int off, int count) {
    int end = off + count;
    switch (dtype) {
      case F64 -> {
        src.asDoubleBuffer().get(dst, off, count);
        src.position(src.position() + 8 * count);
      }
      case F32 -> {
        for (int i = off; i < end; i++) {
          dst[i] = src.getFloat();
        }
      }
      case F16 -> {
        for (int i = off; i < end; i++) {
          dst[i] = HalfFloats.float16ToFloat(src.getShort());
        }
      }
      case BF16 -> {
        for (int i = off; i < end; i++) {
          dst[i] = HalfFloats.bfloat16ToFloat(src.getShort());
        }
      }
      default -> {
        for (int i = off; i < end; i++) {
          dst[i] = integer(dtype, src);
        }
      }
    }
  }

  /** Decodes {@code count} elements of an integer {@code dtype} into {@code dst[off..]}. */
  static void toLong(SafetensorsDtype dtype, ByteBuffer src, long[] dst, int off, int count) {
    if (dtype == SafetensorsDtype.I64) {
      src.asLongBuffer().get(dst, off, count);
      src.position(src.position() + 8 * count);
      return;
    }
    for (int i = off, end = off + count; i < end; i++) {
      dst[i] = integer(dtype, src);
    }
  }

  /**
   * Decodes {@code count} elements of an integer {@code dtype} into {@code dst[off..]}.
   *
   * @return the index in {@code dst} of the first I64 value outside the int range, or -1 if all fit
   */
  static int toInt(SafetensorsDtype dtype, ByteBuffer src, int[] dst, int off, int count) {
    int end = off + count;
    switch (dtype) {
      case I32 -> {
        src.asIntBuffer().get(dst, off, count);
        src.position(src.position() + 4 * count);
      }
      case I64 -> {
        for (int i = off; i < end; i++) {
          long v = src.getLong();
          if (v != (int) v) {
            return i;
          }
          dst[i] = (int) v;
        }
      }
      default -> {
        for (int i = off; i < end; i++) {
          dst[i] = (int) integer(dtype, src);
        }
      }
    }
    return -1;
  }

  private static long integer(SafetensorsDtype dtype, ByteBuffer src) {
    return switch (dtype) {
      case I64 -> src.getLong();
      case I32 -> src.getInt();
      case I16 -> src.getShort();
      case I8 -> src.get();
      case U8 -> src.get() & 0xff;
      case BOOL -> src.get() != 0 ? 1 : 0;
      default -> throw new IllegalArgumentException("not an integer dtype: " + dtype);
    };
  }

  /** Encodes {@code count} floats from {@code src[off..]} as the floating-point {@code dtype}. */
  static void fromFloat(SafetensorsDtype dtype, float[] src, int off, int count, ByteBuffer dst) {
    int end = off + count;
    switch (dtype) {
      case F32 -> {
        dst.asFloatBuffer().put(src, off, count);
        dst.position(dst.position() + 4 * count);
      }
      case F64 -> {
        for (int i = off; i < end; i++) {
          dst.putDouble(src[i]);
        }
      }
      case F16 -> {
        for (int i = off; i < end; i++) {
          dst.putShort(HalfFloats.floatToFloat16(src[i]));
        }
      }
      case BF16 -> {
        for (int i = off; i < end; i++) {
          dst.putShort(HalfFloats.floatToBfloat16(src[i]));
        }
      }
      default -> throw new IllegalArgumentException("not a floating-point dtype: " + dtype);
    }
  }

  /**
   * Encodes {@code count} doubles from {@code src[off..]} as the floating-point {@code dtype} (F16
   * and BF16 round through float).
   */
  static void fromDouble(SafetensorsDtype dtype, double[] src, int off, int count, ByteBuffer dst) {
    if (dtype == SafetensorsDtype.F64) {
      dst.asDoubleBuffer().put(src, off, count);
      dst.position(dst.position() + 8 * count);
      return;
    }
    float[] floats = new float[count];
    for (int i = 0; i < count; i++) {
      floats[i] = (float) src[off + i];
    }
    fromFloat(dtype, floats, 0, count, dst);
  }

  /** Encodes {@code count} ints from {@code src[off..]} as I32 or I64. */
  static void fromInt(SafetensorsDtype dtype, int[] src, int off, int count, ByteBuffer dst) {
    switch (dtype) {
      case I32 -> {
        dst.asIntBuffer().put(src, off, count);
        dst.position(dst.position() + 4 * count);
      }
      case I64 -> {
        for (int i = off, end = off + count; i < end; i++) {
          dst.putLong(src[i]);
        }
      }
      default -> throw new IllegalArgumentException("ints are stored as I32 or I64, not " + dtype);
    }
  }

  /**
   * Encodes {@code count} longs from {@code src[off..]} as I64 or I32.
   *
   * @return the index in {@code src} of the first value outside the int range when writing I32
   *     (nothing is written from there on), or -1
   */
  static int fromLong(SafetensorsDtype dtype, long[] src, int off, int count, ByteBuffer dst) {
    int end = off + count;
    switch (dtype) {
      case I64 -> {
        dst.asLongBuffer().put(src, off, count);
        dst.position(dst.position() + 8 * count);
      }
      case I32 -> {
        for (int i = off; i < end; i++) {
          if (src[i] != (int) src[i]) {
            return i;
          }
          dst.putInt((int) src[i]);
        }
      }
      default -> throw new IllegalArgumentException("longs are stored as I64 or I32, not " + dtype);
    }
    return -1;
  }
}
