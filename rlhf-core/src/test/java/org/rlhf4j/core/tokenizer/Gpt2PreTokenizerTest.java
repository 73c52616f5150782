package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;

class Gpt2PreTokenizerTest {
  @Test
  void splitsLikeGpt2() {
    // Expected lists are Python regex.findall results with the GPT-2 pattern.
    assertEquals(List.of("Hello", ",", " world", "!"), scan("Hello, world!"));
    assertEquals(
        List.of("I", "'m", " don", "'t", " they", "'ll", " '", "S"), scan("I'm don't they'll 'S"));
    assertEquals(List.of("a", " ", " b", "  "), scan("a  b  "));
    assertEquals(List.of("x", "\n", " y"), scan("x\n y"));
    assertEquals(List.of("x", "\r\n\r", "\n", "y"), scan("x\r\n\r\ny"));
    assertEquals(List.of(" 123", " abc", "456"), scan(" 123 abc456"));
    // NBSP and U+3000 are whitespace (Unicode White_Space, as in Python's regex), not punctuation.
    assertEquals(List.of("a", "\u00a0", " b", "\u3000", "c"), scan("a\u00a0 b\u3000c"));
    assertEquals(List.of("\ud83d\udc4b", " \ud83c\udf0d"), scan("\ud83d\udc4b \ud83c\udf0d"));
    assertEquals(List.of("\ud800", "x"), scan("\ud800x"));
  }

  @Test
  void scannerAgreesWithTheRegex() {
    Random rnd = new Random(5);
    String pool =
        "aZ\u00e9\u4e2d1\u0663\u00bd ,.'!\t\n\r"
            + "\u00a0\u3000\u2028\u0085\u001c'srtvlmde\ud83d\udc4b\u0301";
    for (int i = 0; i < 3000; i++) {
      StringBuilder sb = new StringBuilder();
      int n = rnd.nextInt(25);
      for (int k = 0; k < n; k++) {
        sb.append(pool.charAt(rnd.nextInt(pool.length()))); // may split a surrogate pair
      }
      String s = i % 2 == 0 ? sb.toString() : TrickyStrings.randomCodePoints(rnd, n);
      assertEquals(regex(s), scan(s), s);
    }
    for (String s : TrickyStrings.ALL) {
      assertEquals(regex(s), scan(s), s);
    }
  }

  private static List<String> scan(String s) {
    List<String> out = new ArrayList<>();
    for (int pos = 0; pos < s.length(); ) {
      int end = Gpt2PreTokenizer.pieceEnd(s, pos, s.length());
      out.add(s.substring(pos, end));
      pos = end;
    }
    return out;
  }

  private static List<String> regex(String s) {
    List<String> out = new ArrayList<>();
    Matcher m = Gpt2PreTokenizer.PATTERN.matcher(s);
    int last = 0;
    while (m.find()) {
      assertEquals(last, m.start(), "regex skipped text in " + s);
      out.add(m.group());
      last = m.end();
    }
    assertEquals(s.length(), last);
    return out;
  }
}
