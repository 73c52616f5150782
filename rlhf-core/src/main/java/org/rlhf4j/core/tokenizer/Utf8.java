package org.rlhf4j.core.tokenizer;

/**
 * UTF-8 encoding and decoding with Python's {@code errors="replace"} policy. Java's own {@code
 * String.getBytes(UTF_8)} turns a lone surrogate into {@code ?}; here it becomes U+FFFD (bytes EF
 * BF BD), the same character that decoding produces for malformed byte sequences. Both directions
 * are hand-written, which also makes them faster than going through a {@code Charset}.
 */
final class Utf8 {
  private static final char REPLACEMENT = '\uFFFD';

  private Utf8() {}

  /** The UTF-8 bytes of {@code s[start, end)}; a lone surrogate is encoded as U+FFFD. */
  static byte[] encode(CharSequence s, int start, int end) {
    int n = 0;
    for (int i = start; i < end; i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        n += 1;
      } else if (c < 0x800) {
        n += 2;
      } else if (Character.isHighSurrogate(c)
          && i + 1 < end
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        n += 4;
        i++;
      } else {
        n += 3; // BMP character, or a lone surrogate written as U+FFFD
      }
    }
    byte[] out = new byte[n];
    int j = 0;
    for (int i = start; i < end; i++) {
      int c = s.charAt(i);
      if (c < 0x80) {
        out[j++] = (byte) c;
      } else if (c < 0x800) {
        out[j++] = (byte) (0xC0 | (c >> 6));
        out[j++] = (byte) (0x80 | (c & 0x3F));
      } else if (Character.isSurrogate((char) c)) {
        if (Character.isHighSurrogate((char) c)
            && i + 1 < end
            && Character.isLowSurrogate(s.charAt(i + 1))) {
          int cp = Character.toCodePoint((char) c, s.charAt(++i));
          out[j++] = (byte) (0xF0 | (cp >> 18));
          out[j++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
          out[j++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
          out[j++] = (byte) (0x80 | (cp & 0x3F));
        } else {
          out[j++] = (byte) 0xEF;
          out[j++] = (byte) 0xBF;
          out[j++] = (byte) 0xBD;
        }
      } else {
        out[j++] = (byte) (0xE0 | (c >> 12));
        out[j++] = (byte) (0x80 | ((c >> 6) & 0x3F));
        out[j++] = (byte) (0x80 | (c & 0x3F));
      }
    }
    return out;
  }

  /** The UTF-8 bytes of {@code s}; a lone surrogate is encoded as U+FFFD. */
  static byte[] encode(CharSequence s) {
    return encode(s, 0, s.length());
  }

  /**
   * The text of {@code bytes[0, length)}, with one U+FFFD for each maximal ill-formed subsequence
   * (the Unicode Standard's recommended practice, which Python's {@code errors="replace"} follows).
   * Java's own decoder differs on encoded surrogates ({@code ED A0 80}: one U+FFFD, Python three).
   */
  static String decode(byte[] bytes, int length) {
    char[] out = new char[length];
    int j = 0;
    for (int i = 0; i < length; ) {
      int c = bytes[i] & 0xFF;
      if (c < 0x80) {
        out[j++] = (char) c;
        i++;
        continue;
      }
      int need;
      int cp;
      int lo = 0x80;
      int hi = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
      } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
        lo = c == 0xE0 ? 0xA0 : 0x80; // no overlong forms
        hi = c == 0xED ? 0x9F : 0xBF; // no surrogates
      } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
        lo = c == 0xF0 ? 0x90 : 0x80; // no overlong forms
        hi = c == 0xF4 ? 0x8F : 0xBF; // nothing above U+10FFFF
      } else {
        out[j++] = REPLACEMENT;
        i++;
        continue;
      }
      int k = i + 1;
      boolean ok = true;
      for (int t = 0; t < need; t++, k++) {
        int d = k < length ? bytes[k] & 0xFF : -1;
        if (d < (t == 0 ? lo : 0x80) || d > (t == 0 ? hi : 0xBF)) {
          ok = false;
          break;
        }
        cp = (cp << 6) | (d & 0x3F);
      }
      if (ok) {
        j += Character.toChars(cp, out, j);
      } else {
        out[j++] = REPLACEMENT; // bytes[i, k) are the maximal subpart; resume at the bad byte
      }
      i = k;
    }
    return new String(out, 0, j);
  }
}
