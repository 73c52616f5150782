package org.rlhf4j.core.tokenizer;

import java.util.List;
import java.util.Random;

/** Strings that tokenizers get wrong, and random strings of code points, for round-trip tests. */
final class TrickyStrings {
  static final List<String> ALL =
      List.of(
          "",
          " ",
          "  ",
          "\t",
          "\n",
          "\r\n",
          "a\r\nb\r\n\r\n",
          "hello world",
          "   leading and trailing spaces   ",
          "runs    of     spaces\t\t\ttabs\n\n\nnewlines",
          "non\u00a0breaking\u00a0space, ideographic\u3000space, en\u2002space, nel\u0085,"
              + " ls\u2028, ps\u2029",
          "vt\u000bff\u000cfs\u001cgs\u001d",
          "\u00a0 \u00a0x",
          "caf\u00e9 vs cafe\u0301, combining: a\u0300\u0301\u0302\u0303",
          "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \u4e2d\u6587 \ud55c\uad6d\uc5b4",
          "emoji: \ud83d\udc4b\ud83c\udf0d \ud83c\udff3\ufe0f\u200d\ud83c\udf08"
              + " \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67",
          "math: \u2211 \u221e \ud835\udd38 \u00bd \u2167 \u0663\u0664",
          "rtl: \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
          "contractions: I'm, you're, it's, we've, they'll, he'd, don't, 'S 'T ''s '",
          "<|endoftext|> <|endoftext|><|endoftext|>",
          "<|endoftext",
          "code:\n    if (x) {\n        return y;\n    }\n",
          "\u0000\u0001\u007f\u0080\u00ff",
          "zero\u200bwidth\u200cjoiner\u200d\ufeffbom",
          "\ufffd replacement char",
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?",
          "1234567890123456789012345678901234567890123456789012345678901234567890");

  private TrickyStrings() {}

  /** {@code n} random code points (no surrogates), mixing ASCII, BMP and supplementary planes. */
  static String randomCodePoints(Random rnd, int n) {
    StringBuilder sb = new StringBuilder();
    while (n > 0) {
      int cp;
      switch (rnd.nextInt(4)) {
        case 0:
          cp = rnd.nextInt(0x80);
          break;
        case 1:
          cp = " \t\n\r\u00a0\u3000'".charAt(rnd.nextInt(7));
          break;
        case 2:
          cp = rnd.nextInt(0x10000);
          break;
        default:
          cp = 0x10000 + rnd.nextInt(0x100000);
      }
      if (cp >= 0xD800 && cp < 0xE000) {
        continue;
      }
      sb.appendCodePoint(cp);
      n--;
    }
    return sb.toString();
  }
}
