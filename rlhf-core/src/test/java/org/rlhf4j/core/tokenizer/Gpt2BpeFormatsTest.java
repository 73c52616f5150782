package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.primitives.Ints;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.RlhfException;

/** The tiny vocabulary of {@link TinyBpe}, loaded from each file format. */
class Gpt2BpeFormatsTest {
  private static final List<String> SAMPLES =
      List.of(
          "hello the world",
          "hello there",
          "<|endoftext|>",
          "  hello\u00a0world\n",
          "\ud83d\udc4b \u4e2d");

  @TempDir Path tmp;

  @Test
  void allFormatsGiveTheSameTokenizer() throws Exception {
    TinyBpe.writeVocabAndMerges(tmp.resolve("hf"), "vocab.json", "merges.txt");
    TinyBpe.writeVocabAndMerges(tmp.resolve("openai"), "encoder.json", "vocab.bpe");
    TinyBpe.writeTokenizerJson(tmp.resolve("tj"), false);
    TinyBpe.writeTokenizerJson(tmp.resolve("tj-arrays"), true);
    Gpt2BpeTokenizer expected = Gpt2BpeTokenizer.of(TinyBpe.vocab(), TinyBpe.merges());
    List<Gpt2BpeTokenizer> loaded =
        List.of(
            Gpt2BpeTokenizer.fromDirectory(tmp.resolve("hf")),
            Gpt2BpeTokenizer.fromVocabAndMerges(
                tmp.resolve("hf/vocab.json"), tmp.resolve("hf/merges.txt")),
            Gpt2BpeTokenizer.fromDirectory(tmp.resolve("openai")),
            Gpt2BpeTokenizer.fromEncoderAndVocabBpe(
                tmp.resolve("openai/encoder.json"), tmp.resolve("openai/vocab.bpe")),
            Gpt2BpeTokenizer.fromDirectory(tmp.resolve("tj")),
            Gpt2BpeTokenizer.fromTokenizerJson(tmp.resolve("tj-arrays/tokenizer.json")));
    for (Gpt2BpeTokenizer t : loaded) {
      assertEquals(expected.vocabulary(), t.vocabulary());
      assertEquals(expected.merges(), t.merges());
      assertEquals(expected.specialTokens(), t.specialTokens());
      for (String s : SAMPLES) {
        assertArrayEquals(expected.encode(s), t.encode(s), s);
      }
    }
  }

  @Test
  void encodesWithTheTinyMerges() {
    Gpt2BpeTokenizer t = Gpt2BpeTokenizer.of(TinyBpe.vocab(), TinyBpe.merges());
    // ids: ll=256 ell=257 hell=258 hello=259 Ġt=260 he=261 Ġthe=262 Ġw=263 or=264 Ġwor=265
    // Ġworl=266 Ġworld=267 <|endoftext|>=268
    assertEquals(269, t.vocabSize());
    assertEquals(Map.of(Gpt2BpeTokenizer.END_OF_TEXT, 268), t.specialTokens());
    assertEquals(268, t.eosId());
    assertArrayEquals(new int[] {259, 262, 267}, t.encode("hello the world"));
    assertArrayEquals(new int[] {259, 262, 'r', 'e'}, t.encode("hello there"));
    assertArrayEquals(new int[] {261, 'l', 'p'}, t.encode("help")); // only "h e" applies
    assertFalse(Ints.contains(t.encode("<|endoftext|>"), 268));
    assertArrayEquals(
        new int[] {259, 268, 267}, t.encodeAllowingSpecials("hello<|endoftext|> world"));
    for (String s : SAMPLES) {
      assertEquals(s, t.decode(t.encode(s)));
    }
  }

  @Test
  void fromDirectoryPrefersVocabJsonAndMergesTxt() throws Exception {
    Path dir = tmp.resolve("both");
    TinyBpe.writeVocabAndMerges(dir, "vocab.json", "merges.txt");
    Files.writeString(dir.resolve("tokenizer.json"), "not json"); // would fail if it were read
    assertEquals(269, Gpt2BpeTokenizer.fromDirectory(dir).vocabSize());
  }

  @Test
  void fromDirectoryNamesWhatIsMissing() throws Exception {
    Files.writeString(tmp.resolve("vocab.json"), "{}"); // merges.txt is missing
    RlhfException e = assertThrows(RlhfException.class, () -> Gpt2BpeTokenizer.fromDirectory(tmp));
    assertTrue(e.getMessage().contains(tmp.toString()), e.getMessage());
    assertTrue(
        e.getMessage().contains("merges.txt") && e.getMessage().contains("found [vocab.json]"),
        e.getMessage());
  }
}
