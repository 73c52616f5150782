package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A pathological single pre-token (megabytes without a space) in bounded memory, exactly chunked. */
class LongWordTest {
  private static final Gpt2BpeTokenizer TOK = Gpt2BpeTokenizer.of(TinyBpe.vocab(), TinyBpe.merges());

  @Test
  void aLongWordIsMergedInChunksAndShortOnesExactly() {
    int max = Gpt2BpeTokenizer.MAX_PIECE_CHARS;
    // Up to the limit a word is one piece: "hello" * k merges to k "hello" tokens.
    String exact = "hello".repeat(max / 5);
    int[] ids = TOK.encode(exact);
    assertEquals(max / 5, ids.length);
    int hello = TinyBpe.vocab().get("hello");
    for (int id : ids) {
      assertEquals(hello, id);
    }
    // Beyond it, the word is cut every MAX_PIECE_CHARS characters and each chunk merged alone.
    String word = "hello".repeat(3 * max / 5 + 7);
    IntBuffer expected = new IntBuffer(16);
    int chunks = 0;
    for (int c = 0; c < word.length(); c = Gpt2BpeTokenizer.chunkEnd(word, c, word.length()), chunks++) {
      int end = Gpt2BpeTokenizer.chunkEnd(word, c, word.length());
      assertTrue(end - c <= max && end > c);
      int[] part = TOK.encode(word.substring(c, end));
      expected.addAll(part, 0, part.length);
    }
    assertEquals(4, chunks);
    assertArrayEquals(expected.toArray(), TOK.encode(word));
    assertEquals(word, TOK.decode(TOK.encode(word)));
  }

  @Test
  void chunksNeverSplitASurrogatePair() {
    String word = "\uD83D\uDE00".repeat(Gpt2BpeTokenizer.MAX_PIECE_CHARS); // emoji: one symbol run
    for (int c = 0; c < word.length(); ) {
      int end = Gpt2BpeTokenizer.chunkEnd(word, c, word.length());
      assertTrue(!Character.isHighSurrogate(word.charAt(end - 1)), "split at " + end);
      c = end;
    }
    assertEquals(word, TOK.decode(TOK.encode(word)));
  }

  /** Unchunked, the merge of a 10 MB word needs about 250 MB of working arrays: over this heap. */
  @Test
  void aTenMegabyteWordEncodesInA160MegabyteHeap() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p =
        new ProcessBuilder(java, "-Xmx160m", "-cp", System.getProperty("java.class.path"), LongWordMain.class.getName())
            .redirectErrorStream(true)
            .start();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    p.getInputStream().transferTo(out);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
    String text = out.toString(StandardCharsets.UTF_8);
    assertEquals(0, p.exitValue(), text);
    assertTrue(text.startsWith("OK "), text);
    // 2,000,000 "hello" tokens, plus at most 2 more at each of the 305 chunk boundaries.
    int n = Integer.parseInt(text.substring(3).strip());
    assertTrue(n >= 2_000_000 && n <= 2_000_000 + 2 * 305, text);
  }

  @Test
  void aHugeMergesLineIsRefusedAtItsLine(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
    TinyBpe.writeVocabAndMerges(dir, "vocab.json", "merges.txt");
    java.nio.file.Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\nl l\n" + "x".repeat(100_000) + " y\n");
    org.rlhf4j.core.data.DataFormatException e =
        org.junit.jupiter.api.Assertions.assertThrows(
            org.rlhf4j.core.data.DataFormatException.class,
            () -> Gpt2BpeTokenizer.fromVocabAndMerges(dir.resolve("vocab.json"), dir.resolve("merges.txt")));
    assertTrue(e.getMessage().contains("merges.txt:3: line is longer than the limit of 65536"), e.getMessage());
  }
}
