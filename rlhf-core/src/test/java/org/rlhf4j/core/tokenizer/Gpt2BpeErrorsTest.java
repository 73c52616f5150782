package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;

/**
 * Malformed vocabulary, merges and tokenizer.json files give errors naming the file and the
 * problem.
 */
class Gpt2BpeErrorsTest {
  @TempDir Path dir;
  private Path vocab;
  private Path merges;

  @BeforeEach
  void writeGoodFiles() throws Exception {
    TinyBpe.writeVocabAndMerges(dir, "vocab.json", "merges.txt");
    vocab = dir.resolve("vocab.json");
    merges = dir.resolve("merges.txt");
  }

  private DataFormatException badMerges(String appended) throws Exception {
    Files.writeString(merges, TinyBpe.mergesText() + appended);
    return assertThrows(
        DataFormatException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges));
  }

  private static void assertMentions(Exception e, String... parts) {
    for (String p : parts) {
      assertTrue(e.getMessage().contains(p), "'" + p + "' not in: " + e.getMessage());
    }
  }

  @Test
  void mergeLineThatIsNotTwoTokens() throws Exception {
    // TinyBpe has a #version line and 12 merges, so an appended line is line 14.
    DataFormatException e = badMerges("l l o\n");
    assertEquals(merges.toString(), e.source());
    assertEquals(14, e.line());
    assertMentions(e, merges + ":14:", "two tokens", "\"l l o\"");
    assertMentions(badMerges("hello\n"), ":14:", "\"hello\"");
    assertMentions(badMerges("h  e\n"), ":14:", "\"h  e\"");
  }

  @Test
  void mergeWhoseResultOrPartIsNotInTheVocabulary() throws Exception {
    assertMentions(
        badMerges("Ġworld s\n"),
        merges + ":14:",
        "result \"Ġworlds\"",
        "not in the vocabulary",
        vocab.toString());
    assertMentions(badMerges("\n\nqq z\n"), merges + ":16:", "first part \"qq\"");
    assertMentions(badMerges("a \u4e2d\n"), ":14:", "second part \"\u4e2d\"", "byte-level");
  }

  @Test
  void duplicateMerge() throws Exception {
    assertMentions(
        badMerges("h ell\n"), merges + ":14:", "duplicate merge \"h ell\"", "first at 4");
  }

  @Test
  void badIdsInVocabJson() throws Exception {
    String good = Files.readString(vocab);
    Files.writeString(vocab, good.replace("\"hello\":259", "\"hello\":\"five\""));
    DataFormatException e =
        assertThrows(
            DataFormatException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges));
    assertEquals(vocab.toString(), e.source());
    assertMentions(e, "token \"hello\"", "non-negative integer", "\"five\"");
    Files.writeString(vocab, good.replace("\"hello\":259", "\"hello\":2.5"));
    assertMentions(
        assertThrows(
            DataFormatException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)),
        "2.5");
    Files.writeString(vocab, good.replace("\"hello\":259", "\"hello\":-1"));
    assertMentions(
        assertThrows(
            DataFormatException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)),
        "-1");
    Files.writeString(vocab, good.replace("\"hello\":259", "\"hello\":258"));
    assertMentions(
        assertThrows(
            DataFormatException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)),
        vocab.toString(),
        "id 258 of token \"hello\" is already used by token \"hell\"");
    Files.writeString(vocab, good.replace("\"hello\":259", "\"hell\":259"));
    assertMentions(
        assertThrows(
            DataFormatException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)),
        vocab.toString(),
        "Duplicate field 'hell'");
    Files.writeString(vocab, good.substring(0, 100));
    assertMentions(
        assertThrows(
            DataFormatException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)),
        "invalid JSON");
    Files.writeString(vocab, "[1, 2]");
    assertMentions(
        assertThrows(
            DataFormatException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)),
        "expected a JSON object");
  }

  @Test
  void vocabularyProblems() throws Exception {
    Map<String, Integer> v = TinyBpe.vocab();
    v.remove("Ġworld");
    v.put(Gpt2BpeTokenizer.END_OF_TEXT, 267);
    Files.write(vocab, TinyBpe.JSON.writeValueAsBytes(v));
    assertMentions(
        assertThrows(
            DataFormatException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)),
        merges + ":13:",
        "result \"Ġworld\"");
    v = TinyBpe.vocab();
    v.remove(Gpt2BpeTokenizer.END_OF_TEXT);
    v.put("x-gap", 300);
    Files.write(vocab, TinyBpe.JSON.writeValueAsBytes(v));
    assertMentions(
        assertThrows(RlhfException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)),
        vocab.toString(),
        "without gaps",
        "\"x-gap\" has id 300");
    v = TinyBpe.vocab();
    v.put("<|other|>", v.remove(Gpt2BpeTokenizer.END_OF_TEXT));
    Files.write(vocab, TinyBpe.JSON.writeValueAsBytes(v));
    assertMentions(
        assertThrows(RlhfException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)),
        vocab.toString(),
        "no special token <|endoftext|>");
    v = TinyBpe.vocab();
    v.put("not-a-byte", v.remove("Ā"));
    Files.write(vocab, TinyBpe.JSON.writeValueAsBytes(v));
    assertMentions(
        assertThrows(RlhfException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges)),
        vocab.toString(),
        "missing the byte-level token \"Ā\" for byte 0x00");
  }

  @Test
  void missingFiles() throws Exception {
    Path none = dir.resolve("nope.json");
    assertMentions(
        assertThrows(RlhfException.class, () -> Gpt2BpeTokenizer.fromVocabAndMerges(none, merges)),
        "missing vocabulary file " + none);
    assertMentions(
        assertThrows(
            RlhfException.class,
            () -> Gpt2BpeTokenizer.fromVocabAndMerges(vocab, dir.resolve("nope.txt"))),
        "missing merges file " + dir.resolve("nope.txt"));
    assertMentions(
        assertThrows(RlhfException.class, () -> Gpt2BpeTokenizer.fromTokenizerJson(none)),
        "missing tokenizer.json file " + none);
  }

  @Test
  void badTokenizerJson() throws Exception {
    TinyBpe.writeTokenizerJson(dir, true);
    Path tj = dir.resolve("tokenizer.json");
    String good = Files.readString(tj);
    Files.writeString(tj, good.replace("\"type\":\"BPE\"", "\"type\":\"WordPiece\""));
    assertMentions(
        assertThrows(DataFormatException.class, () -> Gpt2BpeTokenizer.fromTokenizerJson(tj)),
        tj.toString(),
        "model.type is \"WordPiece\"");
    Files.writeString(tj, good.replace("[\"h\",\"ell\"]", "[\"h\",7]"));
    DataFormatException e =
        assertThrows(DataFormatException.class, () -> Gpt2BpeTokenizer.fromTokenizerJson(tj));
    assertEquals(3, e.line()); // the third merge
    assertMentions(e, tj.toString(), "model.merges[2]", "[\"h\",7]");
    Files.writeString(tj, good.replace("[\"h\",\"ell\"]", "\"h ell x\""));
    assertMentions(
        assertThrows(DataFormatException.class, () -> Gpt2BpeTokenizer.fromTokenizerJson(tj)),
        "model.merges[2]",
        "\"h ell x\"");
    Files.writeString(tj, good.replace("{\"id\":268,", "{\"id\":5,"));
    assertMentions(
        assertThrows(DataFormatException.class, () -> Gpt2BpeTokenizer.fromTokenizerJson(tj)),
        "added_tokens[0]",
        "id 5",
        "already used by token \"ą\""); // byte 5
    Files.writeString(tj, good.replace("\"hello\":259", "\"hello\":true"));
    assertMentions(
        assertThrows(DataFormatException.class, () -> Gpt2BpeTokenizer.fromTokenizerJson(tj)),
        "token \"hello\"",
        "got true");
  }
}
