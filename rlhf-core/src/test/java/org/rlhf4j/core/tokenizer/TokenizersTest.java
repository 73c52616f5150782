package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.testing.TestData;

class TokenizersTest {
  @TempDir Path dir;

  private List<String> files() throws Exception {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }

  @Test
  void savesAndLoadsTheByteTokenizer() throws Exception {
    Tokenizers.save(ByteTokenizer.create(), dir);
    assertEquals(List.of(Tokenizers.METADATA_FILE), files());
    JsonNode config = TinyBpe.JSON.readTree(dir.resolve(Tokenizers.METADATA_FILE).toFile());
    assertEquals("byte", config.get("type").asText());
    assertEquals(259, config.get("vocab_size").asInt());
    assertSame(ByteTokenizer.create(), Tokenizers.load(dir));
  }

  @Test
  void savesBpeInHuggingFaceFormatAndLoadsIt() throws Exception {
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.of(TinyBpe.vocab(), TinyBpe.merges());
    Path sub = dir.resolve("ckpt/tokenizer"); // created on save
    Tokenizers.save(tok, sub);
    Tokenizers.save(tok, sub); // overwriting is fine
    try (Stream<Path> s = Files.list(sub)) {
      assertEquals(
          List.of("merges.txt", "rlhf4j_tokenizer.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"),
          s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList()),
          "no temp files left");
    }
    assertEquals(
        TinyBpe.mergesText(), Files.readString(sub.resolve("merges.txt"), StandardCharsets.UTF_8));
    // Written with the umask's permissions, not Files.createTempFile's owner-only ones.
    Path plain = Files.createFile(dir.resolve("plain"));
    assertEquals(
        Files.getPosixFilePermissions(plain),
        Files.getPosixFilePermissions(sub.resolve("vocab.json")));
    Map<?, ?> vocab = TinyBpe.JSON.readValue(sub.resolve("vocab.json").toFile(), Map.class);
    assertEquals(TinyBpe.vocab(), vocab);
    JsonNode config = TinyBpe.JSON.readTree(sub.resolve(Tokenizers.METADATA_FILE).toFile());
    assertEquals("gpt2-bpe", config.get("type").asText());
    JsonNode hf = TinyBpe.JSON.readTree(sub.resolve(Tokenizers.HF_CONFIG_FILE).toFile());
    assertEquals("GPT2Tokenizer", hf.get("tokenizer_class").asText());
    assertEquals("<|endoftext|>", hf.get("eos_token").asText());
    // Hugging Face's file holds none of rlhf4j's keys (transformers' save_pretrained keeps them).
    assertFalse(hf.has("type") || hf.has("format_version") || hf.has("vocab_file"), hf.toString());

    Gpt2BpeTokenizer back = assertInstanceOf(Gpt2BpeTokenizer.class, Tokenizers.load(sub));
    assertEquals(tok.vocabulary(), back.vocabulary());
    assertEquals(tok.merges(), back.merges());
    assertArrayEquals(tok.encode("hello the world!"), back.encode("hello the world!"));
    // The same files without our metadata are read as plain Hugging Face files.
    Files.delete(sub.resolve(Tokenizers.METADATA_FILE));
    assertEquals(tok.vocabulary(), ((Gpt2BpeTokenizer) Tokenizers.load(sub)).vocabulary());
  }

  @Test
  void fallsBackToHuggingFaceFiles() throws Exception {
    TinyBpe.writeTokenizerJson(dir, false);
    Files.writeString(
        dir.resolve(Tokenizers.HF_CONFIG_FILE),
        "{\"model_max_length\": 1024, \"tokenizer_class\": \"GPT2Tokenizer\"}");
    assertEquals(269, Tokenizers.load(dir).vocabSize());
  }

  /**
   * transformers' save_pretrained of a directory exported by rlhf4j before 0.2 writes only
   * tokenizer.json and keeps rlhf4j's keys in tokenizer_config.json; that directory must load, and
   * so must one with only tokenizer.json.
   */
  @Test
  void loadsADirectoryReSavedByTransformers() throws Exception {
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.of(TinyBpe.vocab(), TinyBpe.merges());
    Path only = dir.resolve("only-tokenizer-json");
    TinyBpe.writeTokenizerJson(only, true);
    Gpt2BpeTokenizer a = assertInstanceOf(Gpt2BpeTokenizer.class, Tokenizers.load(only));
    assertArrayEquals(tok.encode("hello the world!"), a.encode("hello the world!"));
    assertEquals(tok.vocabulary(), a.vocabulary());

    Path resaved = dir.resolve("resaved");
    TinyBpe.writeTokenizerJson(resaved, false);
    Files.writeString(
        resaved.resolve(Tokenizers.HF_CONFIG_FILE),
        "{\"type\": \"gpt2-bpe\", \"format_version\": 1, \"vocab_file\": \"vocab.json\","
            + " \"merges_file\": \"merges.txt\", \"vocab_size\": 269,"
            + " \"tokenizer_class\": \"GPT2Tokenizer\", \"eos_token\": \"<|endoftext|>\"}");
    Gpt2BpeTokenizer b = assertInstanceOf(Gpt2BpeTokenizer.class, Tokenizers.load(resaved));
    assertEquals(tok.vocabulary(), b.vocabulary());
    assertEquals(tok.merges(), b.merges());

    // The old layout (rlhf4j's keys in tokenizer_config.json, with vocab.json + merges.txt).
    Path old = dir.resolve("old");
    Tokenizers.save(tok, old);
    Files.move(
        old.resolve(Tokenizers.METADATA_FILE),
        old.resolve(Tokenizers.HF_CONFIG_FILE),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertEquals(tok.vocabulary(), ((Gpt2BpeTokenizer) Tokenizers.load(old)).vocabulary());
  }

  @Test
  void savesAndLoadsGpt2() throws Exception {
    Path gpt2 = TestData.require("gpt2/encoder.json").getParent();
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.fromDirectory(gpt2);
    Tokenizers.save(tok, dir);
    Gpt2BpeTokenizer back = (Gpt2BpeTokenizer) Tokenizers.load(dir);
    assertEquals(tok.vocabulary(), back.vocabulary());
    assertEquals(tok.merges(), back.merges());
    assertEquals(50256, back.eosId());
    // The original vocab.bpe is exactly what we write as merges.txt.
    assertEquals(
        Files.readString(gpt2.resolve("vocab.bpe")), Files.readString(dir.resolve("merges.txt")));
  }

  @Test
  void rejectsBadConfigs() throws Exception {
    Path config = dir.resolve(Tokenizers.METADATA_FILE);
    Files.writeString(config, "{\"type\": \"sentencepiece\"}");
    DataFormatException e = assertThrows(DataFormatException.class, () -> Tokenizers.load(dir));
    assertEquals(config.toString(), e.source());
    assertTrue(e.getMessage().contains("unknown tokenizer type \"sentencepiece\""), e.getMessage());
    Files.writeString(config, "{\"type\": \"byte\", \"vocab_size\": 300}");
    e = assertThrows(DataFormatException.class, () -> Tokenizers.load(dir));
    assertTrue(
        e.getMessage().contains("\"vocab_size\" is 300 but the tokenizer has 259"), e.getMessage());
    Files.writeString(config, "{\"type\": \"gpt2-bpe\", \"vocab_file\": \"../vocab.json\"}");
    e = assertThrows(DataFormatException.class, () -> Tokenizers.load(dir));
    assertTrue(e.getMessage().contains("\"vocab_file\" must be a plain file name"), e.getMessage());
    Files.writeString(config, "{\"type\": \"byte\", \"format_version\": 3}");
    e = assertThrows(DataFormatException.class, () -> Tokenizers.load(dir));
    assertTrue(e.getMessage().contains("format_version 3"), e.getMessage());
    Files.writeString(config, "{\"type\": ");
    e = assertThrows(DataFormatException.class, () -> Tokenizers.load(dir));
    assertTrue(e.getMessage().contains("invalid JSON"), e.getMessage());
    Files.writeString(config, "{\"type\": \"gpt2-bpe\"}");
    RlhfException missing = assertThrows(RlhfException.class, () -> Tokenizers.load(dir));
    assertTrue(
        missing.getMessage().contains("missing vocabulary file " + dir.resolve("vocab.json")),
        missing.getMessage());
  }

  @Test
  void rejectsWhatItCannotSaveOrFind() {
    Tokenizer other =
        new Tokenizer() {
          @Override
          public int[] encode(String text) {
            return new int[0];
          }

          @Override
          public String decode(int[] ids, boolean skipSpecialTokens) {
            return "";
          }

          @Override
          public int vocabSize() {
            return 1;
          }

          @Override
          public int bosId() {
            return 0;
          }

          @Override
          public int eosId() {
            return 0;
          }

          @Override
          public int padId() {
            return 0;
          }

          @Override
          public boolean isSpecial(int id) {
            return true;
          }

          @Override
          public String describe() {
            return "other(1)";
          }
        };
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Tokenizers.save(other, dir));
    assertTrue(e.getMessage().contains("other(1)"), e.getMessage());
    RlhfException none = assertThrows(RlhfException.class, () -> Tokenizers.load(dir));
    assertTrue(none.getMessage().contains("no GPT-2 tokenizer in " + dir), none.getMessage());
  }
}
