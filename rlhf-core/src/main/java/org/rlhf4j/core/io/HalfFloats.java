package org.rlhf4j.core.io;

/**
 * Conversions between {@code float} and the 16-bit formats IEEE 754 binary16 ("F16", half
 * precision) and bfloat16 ("BF16"), given as the raw 16 bits in a {@code short}. Decoding is exact
 * (both formats are subsets of binary32) and handles zeros, subnormals, infinities and NaNs;
 * encoding rounds to nearest, ties to even, overflows to infinity and keeps NaNs NaN.
 */
public final class HalfFloats {
  private HalfFloats() {}

  /**
   * Decodes an IEEE 754 binary16 value.
   *
   * @param bits the 16 bits (sign, 5 exponent bits, 10 fraction bits)
   * @return the same value as a float
   */
  public static float float16ToFloat(short bits) {
    int h = bits & 0xffff;
    int sign = (h & 0x8000) << 16;
    int exponent = (h >>> 10) & 0x1f;
    int fraction = h & 0x3ff;
    if (exponent == 0x1f) {
      // Infinity (fraction 0) or NaN; keep the payload in the top fraction bits.
      return Float.intBitsToFloat(sign | 0x7f800000 | (fraction << 13));
    }
    if (exponent == 0) {
      // Zero or subnormal: fraction * 2^-24, exact in float.
      float magnitude = fraction * 0x1p-24f;
      return sign == 0 ? magnitude : -magnitude;
    }
    // Normal: rebias the exponent from 15 to 127.
    return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (fraction << 13));
  }

  /**
   * Decodes a bfloat16 value.
   *
   * @param bits the 16 bits (the upper half of a binary32)
   * @return the same value as a float
   */
  public static float bfloat16ToFloat(short bits) {
    return Float.intBitsToFloat((bits & 0xffff) << 16);
  }

  /**
   * Encodes {@code value} as IEEE 754 binary16, rounding to nearest even; values beyond the largest
   * half (65504) round to infinity, and values below half the smallest subnormal to zero.
   *
   * @param value the value
   * @return the 16 bits of the nearest half
   */
  public static short floatToFloat16(float value) {
    int f = Float.floatToRawIntBits(value);
    int sign = (f >>> 16) & 0x8000;
    int exponent = (f >>> 23) & 0xff;
    int fraction = f & 0x7fffff;
    if (exponent == 0xff) {
      // Infinity stays infinity; NaN keeps its top payload bits and stays quiet/non-zero.
      int payload = fraction == 0 ? 0 : 0x200 | (fraction >>> 13);
      return (short) (sign | 0x7c00 | payload);
    }
    int unbiased = exponent - 127;
    if (unbiased > 15) {
      return (short) (sign | 0x7c00);
    }
    if (unbiased >= -14) {
      // Normal half: round the 23-bit fraction to 10 bits; a carry may bump the exponent (even to
      // inf).
      int halfBits = ((unbiased + 15) << 10) | (fraction >>> 13);
      return (short) (sign | roundToNearestEven(halfBits, fraction & 0x1fff, 13));
    }
    if (unbiased < -25) {
      return (short) sign;
    }
    // Subnormal half: value = mantissa * 2^-24 with the implicit bit made explicit.
    int mantissa = fraction | 0x800000;
    int shift = -unbiased - 1; // 14..24: bits of the 24-bit mantissa to drop
    int halfBits = mantissa >>> shift;
    return (short) (sign | roundToNearestEven(halfBits, mantissa & ((1 << shift) - 1), shift));
  }

  /**
   * Encodes {@code value} as bfloat16, rounding to nearest even (NaNs stay NaN).
   *
   * @param value the value
   * @return the 16 bits of the nearest bfloat16
   */
  public static short floatToBfloat16(float value) {
    int f = Float.floatToRawIntBits(value);
    if ((f & 0x7f800000) == 0x7f800000 && (f & 0x7fffff) != 0) {
      return (short) ((f >>> 16) | 0x40); // NaN: keep it NaN even if the payload is in the low bits
    }
    return (short) roundToNearestEven(f >>> 16, f & 0xffff, 16);
  }

  /**
   * Rounds {@code kept} up by one if the dropped low {@code droppedBits} bits say so (ties to
   * even).
   */
  private static int roundToNearestEven(int kept, int dropped, int droppedBits) {
    int half = 1 << (droppedBits - 1);
    if (dropped > half || (dropped == half && (kept & 1) != 0)) {
      return kept + 1;
    }
    return kept;
  }
}
