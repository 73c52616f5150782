package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.primitives.Ints;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.testing.TestData;

/** GPT-2 parity and behaviour, on the real GPT-2 files in the shared data folder. */
class Gpt2BpeTokenizerTest {
  private static final int EOT = 50256;
  private static Gpt2BpeTokenizer loaded;
  private Gpt2BpeTokenizer tok;

  /** Loads GPT-2 once; each test is skipped, with a message, without the shared data. */
  @BeforeEach
  void load() {
    Path dir = TestData.require("gpt2/test_vectors.json").getParent();
    synchronized (Gpt2BpeTokenizerTest.class) {
      if (loaded == null) {
        loaded =
            Gpt2BpeTokenizer.fromEncoderAndVocabBpe(
                dir.resolve("encoder.json"), dir.resolve("vocab.bpe"));
      }
      tok = loaded;
    }
  }

  @Test
  void matchesTestVectors() throws Exception {
    JsonNode cases =
        new ObjectMapper()
            .readTree(TestData.require("gpt2/test_vectors.json").toFile())
            .get("cases");
    assertTrue(cases.size() >= 8, "too few cases: " + cases.size());
    for (JsonNode c : cases) {
      String text = c.get("text").asText();
      int[] want = new int[c.get("ids").size()];
      for (int i = 0; i < want.length; i++) {
        want[i] = c.get("ids").get(i).intValue();
      }
      assertArrayEquals(want, tok.encode(text), "encode " + text);
      assertEquals(text, tok.decode(want), "decode " + Arrays.toString(want));
    }
  }

  @Test
  void matchesKnownCountsOnTinyShakespeare() throws Exception {
    String text = Files.readString(TestData.require("corpus/tinyshakespeare.txt"));
    int[] ids = tok.encode(text);
    // nanoGPT's prepare.py with tiktoken "gpt2": 301,966 train + 36,059 val tokens.
    assertEquals(338_025, ids.length);
    assertArrayEquals(
        new int[] {5962, 22307, 25, 198}, Arrays.copyOf(ids, 4)); // "First Citizen:\n"
    assertEquals(text, tok.decode(ids));
  }

  @Test
  void describesItself() {
    assertEquals(50257, tok.vocabSize());
    assertEquals(EOT, tok.bosId());
    assertEquals(EOT, tok.eosId());
    assertEquals(EOT, tok.padId());
    assertEquals(Map.of(Gpt2BpeTokenizer.END_OF_TEXT, EOT), tok.specialTokens());
    assertEquals(50000, tok.merges().size());
    assertEquals(new Gpt2BpeTokenizer.Merge("Ġ", "t"), tok.merges().get(0));
    assertEquals("Ġthe", tok.token(262));
    assertEquals(262, tok.vocabulary().get("Ġthe"));
    assertEquals("gpt2-bpe(50257)", tok.describe());
  }

  @Test
  void endOfTextInPlainTextIsNotSpecial() {
    String text = "a<|endoftext|>b";
    int[] plain = tok.encode(text);
    assertFalse(Ints.contains(plain, EOT), Arrays.toString(plain));
    assertEquals(text, tok.decode(plain));
    int[] special = tok.encodeAllowingSpecials(text);
    assertArrayEquals(Ints.concat(tok.encode("a"), new int[] {EOT}, tok.encode("b")), special);
    assertEquals("ab", tok.decode(special));
    assertEquals(text, tok.decode(special, false));
    // Text before a special is encoded on its own, as tiktoken does: the spaces stay one piece.
    assertArrayEquals(
        Ints.concat(tok.encode("x  "), new int[] {EOT, EOT}),
        tok.encodeAllowingSpecials("x  <|endoftext|><|endoftext|>"));
    assertArrayEquals(tok.encode("no specials"), tok.encodeAllowingSpecials("no specials"));
  }

  @Test
  void noMergeProducesEndOfText() {
    assertTrue(tok.isSpecial(EOT));
    assertFalse(tok.isSpecial(0) || tok.isSpecial(EOT - 1));
    for (Gpt2BpeTokenizer.Merge m : tok.merges()) {
      assertNotEquals(Gpt2BpeTokenizer.END_OF_TEXT, m.left() + m.right());
    }
    Random rnd = new Random(3);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 2000; i++) {
      sb.append("<|endoftext|>".charAt(rnd.nextInt(13)));
    }
    assertFalse(Ints.contains(tok.encode(sb.toString()), EOT));
  }

  @Test
  void roundTripsTrickyStrings() {
    for (String s : TrickyStrings.ALL) {
      int[] ids = tok.encode(s);
      assertEquals(s, tok.decode(ids), s);
      assertEquals(s, tok.decode(ids, false), s);
    }
  }

  @Test
  void roundTripsRandomStringsAndAgreesWithTheRegex() {
    Random rnd = new Random(42);
    for (int i = 0; i < 400; i++) {
      String s = TrickyStrings.randomCodePoints(rnd, rnd.nextInt(60));
      int[] ids = tok.encode(s);
      assertEquals(s, tok.decode(ids));
      assertFalse(Ints.contains(ids, EOT));
      // The cached scanner path must give what the regex-based, uncached path gives.
      assertArrayEquals(tok.encodeUncached(s), ids, s);
    }
  }

  @Test
  void longPiecesUseTheSameMerges() {
    for (String s :
        List.of("a".repeat(3000), " " + "ab".repeat(700), "9".repeat(500), "\u00e9".repeat(400))) {
      int[] ids = tok.encode(s);
      assertArrayEquals(tok.encodeUncached(s), ids);
      assertEquals(s, tok.decode(ids));
    }
  }

  @Test
  void loneSurrogatesDecodeAsReplacementCharacters() {
    assertEquals("a\uFFFDb\uFFFD", tok.decode(tok.encode("a\uD800b\uDFFF")));
    assertEquals(
        "\uFFFD",
        tok.decode(new int[] {tok.vocabulary().get(String.valueOf(ByteLevel.charOf(0xF0)))}));
  }

  @Test
  void rejectsBadIds() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {50257}));
    assertTrue(e.getMessage().contains("50257"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {-1}));
    assertThrows(IllegalArgumentException.class, () -> tok.isSpecial(50257));
  }

  @Test
  void isThreadSafe() throws Exception {
    Gpt2BpeTokenizer fresh = Gpt2BpeTokenizer.of(tok.vocabulary(), tok.merges());
    Random rnd = new Random(9);
    String[] texts = new String[200];
    for (int i = 0; i < texts.length; i++) {
      texts[i] = TrickyStrings.randomCodePoints(rnd, 30) + " the words the words";
    }
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<int[][]>> results =
          pool.invokeAll(List.of(() -> encodeAll(fresh, texts), () -> encodeAll(fresh, texts)));
      for (Future<int[][]> r : results) {
        int[][] ids = r.get();
        for (int i = 0; i < texts.length; i++) {
          assertArrayEquals(tok.encode(texts[i]), ids[i]);
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private static int[][] encodeAll(Tokenizer t, String[] texts) {
    int[][] out = new int[texts.length][];
    for (int i = 0; i < texts.length; i++) {
      out[i] = t.encode(texts[i]);
    }
    return out;
  }
}
