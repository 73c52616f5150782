package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class SafetensorsHalfFloatTest {

  private static float f16(int bits) {
    return HalfFloats.float16ToFloat((short) bits);
  }

  private static float bf16(int bits) {
    return HalfFloats.bfloat16ToFloat((short) bits);
  }

  @Test
  void decodesFloat16KnownValues() {
    assertEquals(1.0f, f16(0x3C00));
    assertEquals(-2.0f, f16(0xC000));
    assertEquals(65504f, f16(0x7BFF));
    assertEquals(0x1p-24f, f16(0x0001)); // smallest subnormal, 5.96e-8
    assertEquals(1023 * 0x1p-24f, f16(0x03FF)); // largest subnormal
    assertEquals(0x1p-14f, f16(0x0400)); // smallest normal
    assertEquals(0.333251953125f, f16(0x3555)); // 2^-2 * (1 + 341/1024)
    assertEquals(0.99951171875f, f16(0x3BFF));
    assertEquals(Float.POSITIVE_INFINITY, f16(0x7C00));
    assertEquals(Float.NEGATIVE_INFINITY, f16(0xFC00));
    assertTrue(Float.isNaN(f16(0x7E00)));
    assertTrue(Float.isNaN(f16(0x7C01)));
    assertTrue(Float.isNaN(f16(0xFFFF)));
    assertEquals(Float.floatToRawIntBits(0.0f), Float.floatToRawIntBits(f16(0x0000)));
    assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(f16(0x8000)));
    assertEquals(-0x1p-24f, f16(0x8001));
  }

  @Test
  void decodesBfloat16KnownValues() {
    assertEquals(1.0f, bf16(0x3F80));
    assertEquals(-2.0f, bf16(0xC000));
    assertEquals(0.333984375f, bf16(0x3EAB)); // 2^-2 * (1 + 43/128)
    assertEquals(0x1p-133f, bf16(0x0001)); // smallest subnormal
    assertEquals(0x1.fep127f, bf16(0x7F7F)); // largest finite
    assertEquals(Float.POSITIVE_INFINITY, bf16(0x7F80));
    assertEquals(Float.NEGATIVE_INFINITY, bf16(0xFF80));
    assertTrue(Float.isNaN(bf16(0x7FC0)));
    assertTrue(Float.isNaN(bf16(0x7F81)));
    assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(bf16(0x8000)));
  }

  /** Every finite half decodes to the value given by the binary16 definition. */
  @Test
  void decodesEveryFloat16LikeTheDefinition() {
    for (int bits = 0; bits < 0x10000; bits++) {
      int e = (bits >> 10) & 0x1f;
      int f = bits & 0x3ff;
      if (e == 0x1f) {
        continue;
      }
      double magnitude = e == 0 ? f * Math.pow(2, -24) : (1 + f / 1024.0) * Math.pow(2, e - 15);
      double expected = (bits & 0x8000) != 0 ? -magnitude : magnitude;
      assertEquals(expected, f16(bits), 0.0, "bits " + Integer.toHexString(bits));
    }
  }

  /** Decoding then encoding gives back every half and every bfloat16 (NaNs stay NaN). */
  @Test
  void encodingInvertsDecoding() {
    for (int bits = 0; bits < 0x10000; bits++) {
      float h = f16(bits);
      float b = bf16(bits);
      if (Float.isNaN(h)) {
        assertTrue(Float.isNaN(f16(HalfFloats.floatToFloat16(h))));
      } else {
        assertEquals(
            (short) bits, HalfFloats.floatToFloat16(h), "f16 " + Integer.toHexString(bits));
      }
      if (Float.isNaN(b)) {
        assertTrue(Float.isNaN(bf16(HalfFloats.floatToBfloat16(b))));
      } else {
        assertEquals(
            (short) bits, HalfFloats.floatToBfloat16(b), "bf16 " + Integer.toHexString(bits));
      }
    }
  }

  @Test
  void encodingRoundsToNearestEven() {
    assertEquals((short) 0x3C00, HalfFloats.floatToFloat16(1f + 0x1p-11f)); // tie, down to even
    assertEquals((short) 0x3C02, HalfFloats.floatToFloat16(1f + 3 * 0x1p-11f)); // tie, up to even
    assertEquals((short) 0x3C01, HalfFloats.floatToFloat16(1f + 0x1p-11f + 0x1p-20f));
    assertEquals((short) 0x3555, HalfFloats.floatToFloat16(1f / 3));
    assertEquals((short) 0x7BFF, HalfFloats.floatToFloat16(65519f));
    assertEquals((short) 0x7C00, HalfFloats.floatToFloat16(65520f)); // tie between 65504 and 2^16
    assertEquals((short) 0xFC00, HalfFloats.floatToFloat16(-1e10f));
    assertEquals((short) 0x0000, HalfFloats.floatToFloat16(0x1p-25f)); // tie between 0 and 2^-24
    assertEquals((short) 0x0001, HalfFloats.floatToFloat16(0x1.000002p-25f));
    assertEquals((short) 0x0002, HalfFloats.floatToFloat16(3 * 0x1p-25f)); // tie, up to even
    assertEquals(
        (short) 0x0400, HalfFloats.floatToFloat16(0x1.ffep-15f)); // subnormal rounds up to normal
    assertEquals((short) 0x8000, HalfFloats.floatToFloat16(-Float.MIN_VALUE));
    assertEquals((short) 0x3F80, HalfFloats.floatToBfloat16(1f + 0x1p-8f));
    assertEquals((short) 0x3F82, HalfFloats.floatToBfloat16(1f + 3 * 0x1p-8f));
    assertEquals((short) 0x3EAB, HalfFloats.floatToBfloat16(1f / 3));
    assertEquals((short) 0x7F80, HalfFloats.floatToBfloat16(Float.MAX_VALUE));
    assertTrue(Float.isNaN(bf16(HalfFloats.floatToBfloat16(Float.intBitsToFloat(0x7F800001)))));
  }

  /**
   * The distance from {@code candidate} to {@code x}; infinite for a NaN candidate (no neighbour).
   */
  private static double dist(float candidate, float x) {
    return Float.isNaN(candidate) ? Double.POSITIVE_INFINITY : Math.abs(candidate - (double) x);
  }

  /** Random floats encode to a half no farther from them than either neighbour. */
  @Test
  void encodingPicksTheNearestHalf() {
    Random random = new Random(42);
    for (int i = 0; i < 20_000; i++) {
      float x = (float) ((random.nextDouble() * 2 - 1) * Math.pow(2, random.nextInt(40) - 28));
      short h = HalfFloats.floatToFloat16(x);
      double err = dist(f16(h), x);
      if (Math.abs(x) < 65504) {
        assertTrue(err <= dist(f16(h + 1), x) && err <= dist(f16(h - 1), x), () -> "f16 of " + x);
      }
      short b = HalfFloats.floatToBfloat16(x);
      double errB = dist(bf16(b), x);
      assertTrue(
          errB <= dist(bf16(b + 1), x) && errB <= dist(bf16(b - 1), x), () -> "bf16 of " + x);
    }
  }
}
