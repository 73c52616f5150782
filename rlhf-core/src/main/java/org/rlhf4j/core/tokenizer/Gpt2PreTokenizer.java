package org.rlhf4j.core.tokenizer;

import java.util.regex.Pattern;

/**
 * GPT-2's pre-tokenisation, which splits text into the pieces that BPE merges within: contractions,
 * words and numbers with an optional leading space, punctuation runs and whitespace. A run of
 * spaces before a word leaves its last space to the word.
 *
 * <p>The rule is the regex {@link #PATTERN}, {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
 * ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}, with {@code \s} meaning Unicode White_Space as in Python's
 * {@code regex} module (Java's plain {@code \s} is ASCII only, which would split NBSP and U+3000
 * differently). {@link #pieceEnd} implements the same rule by hand, several times faster than
 * {@code java.util.regex}; the tests check that the two agree.
 */
final class Gpt2PreTokenizer {
  /** The regex the scanner implements (thread-safe; the scanner is used for encoding). */
  static final Pattern PATTERN =
      Pattern.compile(
          "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{IsWhite_Space}\\p{L}\\p{N}]+"
              + "|\\p{IsWhite_Space}+(?!\\P{IsWhite_Space})|\\p{IsWhite_Space}+");

  private static final byte LETTER = 0;
  private static final byte NUMBER = 1;
  private static final byte SPACE = 2;
  private static final byte OTHER = 3;
  private static final byte[] ASCII = new byte[128];

  static {
    for (int c = 0; c < 128; c++) {
      ASCII[c] = classify(c);
    }
  }

  private Gpt2PreTokenizer() {}

  /**
   * The end of the piece that starts at {@code start} in {@code s}, looking no further than {@code
   * end} (which acts as the end of the text), where {@code start < end}.
   */
  static int pieceEnd(String s, int start, int end) {
    char c = s.charAt(start);
    if (c == '\'' && start + 1 < end) {
      char d = s.charAt(start + 1);
      if (d == 's' || d == 't' || d == 'm' || d == 'd') {
        return start + 2;
      }
      if (start + 2 < end) {
        char e = s.charAt(start + 2);
        if ((d == 'r' || d == 'v') && e == 'e' || d == 'l' && e == 'l') {
          return start + 3;
        }
      }
    }
    if (c == ' ' && start + 1 < end) {
      byte next = kindAt(s, start + 1, end);
      if (next != SPACE) {
        return run(s, start + 1, end, next);
      }
    }
    byte kind = kindAt(s, start, end);
    if (kind != SPACE) {
      return run(s, start, end, kind);
    }
    // \s+(?!\S) leaves the last space of a run before a non-space to the next piece; \s+ otherwise.
    int k = run(s, start, end, SPACE);
    return k < end && k - start >= 2 ? k - 1 : k;
  }

  private static int run(String s, int i, int end, byte kind) {
    while (i < end) {
      char c = s.charAt(i);
      if (c < 128) {
        if (ASCII[c] != kind) {
          break;
        }
        i++;
      } else {
        int cp = codePointAt(s, i, end);
        if (classify(cp) != kind) {
          break;
        }
        i += Character.charCount(cp);
      }
    }
    return i;
  }

  private static byte kindAt(String s, int i, int end) {
    char c = s.charAt(i);
    return c < 128 ? ASCII[c] : classify(codePointAt(s, i, end));
  }

  private static int codePointAt(String s, int i, int end) {
    char c = s.charAt(i);
    if (Character.isHighSurrogate(c) && i + 1 < end) {
      char d = s.charAt(i + 1);
      if (Character.isLowSurrogate(d)) {
        return Character.toCodePoint(c, d);
      }
    }
    return c;
  }

  private static byte classify(int cp) {
    switch (Character.getType(cp)) {
      case Character.UPPERCASE_LETTER:
      case Character.LOWERCASE_LETTER:
      case Character.TITLECASE_LETTER:
      case Character.MODIFIER_LETTER:
      case Character.OTHER_LETTER:
        return LETTER;
      case Character.DECIMAL_DIGIT_NUMBER:
      case Character.LETTER_NUMBER:
      case Character.OTHER_NUMBER:
        return NUMBER;
      case Character.SPACE_SEPARATOR:
      case Character.LINE_SEPARATOR:
      case Character.PARAGRAPH_SEPARATOR:
        return SPACE;
      default:
        // Unicode White_Space outside the separator categories: \t \n \u000B \f \r and NEL.
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 ? SPACE : OTHER;
    }
  }
}
