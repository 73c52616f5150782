package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ByteTokenizerTest {
  private final ByteTokenizer tok = ByteTokenizer.create();

  @Test
  void encodesUtf8Bytes() {
    assertArrayEquals(
        new int[] {104, 195, 169, 0xF0, 0x9F, 0x91, 0x8B}, tok.encode("h\u00e9\uD83D\uDC4B"));
    assertArrayEquals(new int[0], tok.encode(""));
    assertSame(tok, ByteTokenizer.create());
  }

  @Test
  void roundTripsTrickyStrings() {
    for (String s : TrickyStrings.ALL) {
      int[] ids = tok.encode(s);
      assertArrayEquals(s.getBytes(StandardCharsets.UTF_8), toBytes(ids), s);
      assertEquals(s, tok.decode(ids), s);
    }
  }

  @Test
  void roundTripsRandomCodePoints() {
    Random rnd = new Random(1);
    for (int i = 0; i < 500; i++) {
      String s = TrickyStrings.randomCodePoints(rnd, rnd.nextInt(40));
      int[] ids = tok.encode(s);
      for (int id : ids) {
        assertTrue(id >= 0 && id < 256, "id " + id);
      }
      assertEquals(s, tok.decode(ids));
    }
  }

  @Test
  void loneSurrogatesBecomeReplacementCharacters() {
    assertArrayEquals(new int[] {'a', 0xEF, 0xBF, 0xBD, 'b'}, tok.encode("a\uD800b"));
    assertEquals("\uFFFD\uFFFDx\uFFFD", tok.decode(tok.encode("\uDC00\uD83Dx\uD83D")));
  }

  @Test
  void malformedUtf8DecodesLikePythonReplace() {
    // Expected values from Python: bytes(...).decode("utf-8", "replace").
    assertEquals("\uFFFDA", tok.decode(new int[] {0xE2, 0x82, 'A'}));
    assertEquals("\uFFFD", tok.decode(new int[] {0xFF}));
    assertEquals("\uFFFD", tok.decode(new int[] {0xC3}));
    assertEquals("\uFFFDx", tok.decode(new int[] {0xF0, 0x9F, 0x98, 'x'}));
    assertEquals("\uFFFD\uFFFD\uFFFD", tok.decode(new int[] {0xED, 0xA0, 0x80}));
    assertEquals("\uFFFD\uFFFD", tok.decode(new int[] {0xC0, 0xAF}));
    assertEquals("\uFFFD\uFFFD\uFFFD\uFFFD", tok.decode(new int[] {0xF4, 0x90, 0x80, 0x80}));
    assertEquals("a\uFFFD\uFFFDb", tok.decode(new int[] {'a', 0x80, 0x80, 'b'}));
  }

  @Test
  void specials() {
    assertEquals(259, tok.vocabSize());
    assertEquals(256, tok.bosId());
    assertEquals(257, tok.eosId());
    assertEquals(258, tok.padId());
    assertTrue(tok.isSpecial(256) && tok.isSpecial(257) && tok.isSpecial(258));
    assertFalse(tok.isSpecial(0) || tok.isSpecial(255));
    int[] ids = {256, 'h', 'i', 257, 258};
    assertEquals("hi", tok.decode(ids));
    assertEquals("<|bos|>hi<|eos|><|pad|>", tok.decode(ids, false));
    assertArrayEquals(new int[] {'<', '|', 'e', 'o', 's', '|', '>'}, tok.encode("<|eos|>"));
    assertEquals("byte-level(259)", tok.describe());
  }

  @Test
  void rejectsIdsOutOfRange() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {1, 259}));
    assertTrue(e.getMessage().contains("259"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {-1}));
    assertThrows(IllegalArgumentException.class, () -> tok.isSpecial(300));
    assertThrows(NullPointerException.class, () -> tok.encode(null));
  }

  private static byte[] toBytes(int[] ids) {
    byte[] b = new byte[ids.length];
    for (int i = 0; i < ids.length; i++) {
      b[i] = (byte) ids[i];
    }
    return b;
  }
}
