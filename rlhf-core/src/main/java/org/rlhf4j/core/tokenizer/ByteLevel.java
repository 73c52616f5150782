package org.rlhf4j.core.tokenizer;

import java.util.Arrays;

/**
 * GPT-2's reversible mapping between the 256 byte values and 256 printable Unicode characters
 * ({@code bytes_to_unicode} in OpenAI's {@code encoder.py}): printable Latin-1 bytes map to
 * themselves, the others (controls, space, NBSP, soft hyphen) to U+0100..U+0143. Byte-level BPE
 * vocabularies spell every token with these characters, e.g. a leading space is {@code Ġ}.
 */
final class ByteLevel {
  private static final char[] BYTE_TO_CHAR = new char[256];
  private static final int[] CHAR_TO_BYTE = new int[0x144];

  static {
    Arrays.fill(CHAR_TO_BYTE, -1);
    int extra = 0;
    for (int b = 0; b < 256; b++) {
      boolean printable =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char c = printable ? (char) b : (char) (256 + extra++);
      BYTE_TO_CHAR[b] = c;
      CHAR_TO_BYTE[c] = b;
    }
  }

  private ByteLevel() {}

  /** The character that stands for byte {@code b} (0..255). */
  static char charOf(int b) {
    return BYTE_TO_CHAR[b & 0xFF];
  }

  /**
   * The byte (0..255) that {@code c} stands for, or -1 if {@code c} is not a byte-level character.
   */
  static int byteOf(char c) {
    return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
  }

  /** Whether every character of {@code token} is a byte-level character (and it is non-empty). */
  static boolean isByteLevel(String token) {
    if (token.isEmpty()) {
      return false;
    }
    for (int i = 0; i < token.length(); i++) {
      if (byteOf(token.charAt(i)) < 0) {
        return false;
      }
    }
    return true;
  }

  /** The bytes a byte-level token spells; every character must be a byte-level character. */
  static byte[] bytesOf(String token) {
    byte[] out = new byte[token.length()];
    for (int i = 0; i < out.length; i++) {
      int b = byteOf(token.charAt(i));
      if (b < 0) {
        throw new IllegalArgumentException("not a byte-level token: " + token);
      }
      out[i] = (byte) b;
    }
    return out;
  }

  /** The byte-level spelling of {@code bytes}. */
  static String spell(byte[] bytes) {
    char[] out = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
    }
    return new String(out);
  }
}
