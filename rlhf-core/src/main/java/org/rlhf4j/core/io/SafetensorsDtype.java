package org.rlhf4j.core.io;

import java.util.Optional;

/**
 * The element types of the safetensors format supported here, with their names as written in the
 * header and their sizes in bytes. All multi-byte types are little-endian in the file.
 */
public enum SafetensorsDtype {
  /** IEEE 754 binary64. */
  F64(8, true),
  /** IEEE 754 binary32. */
  F32(4, true),
  /** IEEE 754 binary16 (half precision). */
  F16(2, true),
  /** bfloat16: the upper 16 bits of a binary32. */
  BF16(2, true),
  /** Signed 64-bit integer. */
  I64(8, false),
  /** Signed 32-bit integer. */
  I32(4, false),
  /** Signed 16-bit integer. */
  I16(2, false),
  /** Signed 8-bit integer. */
  I8(1, false),
  /** Unsigned 8-bit integer. */
  U8(1, false),
  /** Boolean, one byte per element (0 is false, anything else true). */
  BOOL(1, false);

  private final int size;
  private final boolean floatingPoint;

  SafetensorsDtype(int size, boolean floatingPoint) {
    this.size = size;
    this.floatingPoint = floatingPoint;
  }

  /** The size of one element in bytes. */
  public int size() {
    return size;
  }

  /** Whether this is a floating-point type (F64, F32, F16, BF16). */
  public boolean isFloatingPoint() {
    return floatingPoint;
  }

  /**
   * The dtype with the header name {@code name} (case-sensitive, e.g. {@code "F32"}).
   *
   * @param name the name as found in a header
   * @return the dtype, or empty if the name is not one of the supported dtypes
   */
  public static Optional<SafetensorsDtype> fromHeaderName(String name) {
    for (SafetensorsDtype d : values()) {
      if (d.name().equals(name)) {
        return Optional.of(d);
      }
    }
    return Optional.empty();
  }
}
