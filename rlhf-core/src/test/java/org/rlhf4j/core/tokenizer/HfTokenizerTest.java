package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;

/** Loading, special tokens, BOS/EOS, decoding and errors of {@link HfTokenizer}. */
class HfTokenizerTest {

  private static HfTokenizer byteLevel() {
    return HfTokenizer.fromFile(HfFixtures.require("tokenizer-bytelevel-bpe").resolve("tokenizer.json"));
  }

  @Test
  void everyModelFoldersTokenizerLoadsAndAgreesWithTheFixture() {
    HfTokenizer ref = byteLevel();
    String text = "Hello <|im_start|>user\nnaïve café 😀<|im_end|>";
    for (String model :
        new String[] {"llama-gqa", "llama3-rope-scaling-tied", "qwen2", "mistral", "llama-gqa-lora-base"}) {
      HfTokenizer t = HfTokenizer.fromDirectory(HfFixtures.require(model));
      assertEquals(1024, t.vocabSize(), model);
      assertArrayEquals(ref.encode(text), t.encode(text), model);
      assertEquals(text, t.decode(t.encode(text), false), model);
    }
  }

  @Test
  void tokenizersLoadPicksHfTokenizerForNonGpt2TokenizerJsonAndGpt2ForGpt2s(@TempDir Path tmp) {
    HfTokenizer ref = byteLevel();
    String text = "Hello world, naïve café";
    for (String folder : new String[] {"llama-gqa", "qwen2", "mistral", "tokenizer-sentencepiece-bpe"}) {
      Tokenizer t = Tokenizers.load(HfFixtures.require(folder));
      assertTrue(t instanceof HfTokenizer, folder + " loads as " + t.getClass().getSimpleName());
      if (!folder.contains("sentencepiece")) {
        assertArrayEquals(ref.encode(text), t.encode(text), folder);
      }
    }
    // A directory with only a GPT-2 byte-level tokenizer.json stays on the (faster) GPT-2 class.
    Gpt2BpeTokenizer gpt2 = BpeTrainer.of(300).train(java.util.List.of("the cat sat on the mat", "the dog sat on the log"));
    Tokenizers.writeTokenizerJson(gpt2, tmp.resolve("tokenizer.json"));
    Tokenizer back = Tokenizers.load(tmp);
    assertTrue(back instanceof Gpt2BpeTokenizer, "GPT-2 tokenizer.json loads as " + back.getClass().getSimpleName());
    assertArrayEquals(gpt2.encode("the cat sat"), back.encode("the cat sat"));
  }

  @Test
  void specialTokenTextIsMatchedByDefaultAndCanBeEncodedAsText() {
    HfTokenizer t = byteLevel();
    int imStart = t.tokenId("<|im_start|>").orElseThrow();
    int[] matched = t.encode("<|im_start|>user");
    assertEquals(imStart, matched[0]);
    assertTrue(t.isSpecial(imStart));
    int[] asText = t.encode("<|im_start|>user", false, HfTokenizer.SpecialTokens.AS_TEXT);
    for (int id : asText) {
      assertFalse(t.isSpecial(id), "no special id when specials are text");
    }
    assertEquals("<|im_start|>user", t.decode(asText, true));
    assertEquals("user", t.decode(matched, true));
    assertEquals("<|im_start|>user", t.decode(matched, false));
  }

  @Test
  void bosEosPadFromTokenizerConfigOrGuessed(@TempDir Path tmp) throws Exception {
    HfTokenizer guessed = byteLevel();
    int eot = guessed.tokenId("<|endoftext|>").orElseThrow();
    assertEquals(eot, guessed.eosId());
    assertEquals(eot, guessed.bosId()); // no BOS: like GPT-2 and Qwen2, BOS falls back to EOS
    assertEquals(eot, guessed.padId());
    // tokenizer_config.json with an AddedToken-dict form
    Files.copy(
        HfFixtures.require("tokenizer-bytelevel-bpe").resolve("tokenizer.json"),
        tmp.resolve("tokenizer.json"));
    Files.writeString(
        tmp.resolve("tokenizer_config.json"),
        "{\"bos_token\": {\"content\": \"<|im_start|>\"}, \"eos_token\": \"<|im_end|>\","
            + " \"pad_token\": \"<|endoftext|>\"}");
    HfTokenizer t = HfTokenizer.fromDirectory(tmp);
    assertEquals(t.tokenId("<|im_start|>").orElseThrow(), t.bosId());
    assertEquals(t.tokenId("<|im_end|>").orElseThrow(), t.eosId());
    assertEquals(eot, t.padId());
    int[] prompt = t.encodePrompt("hi", true);
    assertEquals(t.bosId(), prompt[0]);
    Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"eos_token\": \"<nope>\"}");
    DataFormatException e = assertThrows(DataFormatException.class, () -> HfTokenizer.fromDirectory(tmp));
    assertTrue(e.getMessage().contains("<nope>"), e.getMessage());
  }

  @Test
  void sentencePieceBosFromThePostProcessorAndByteFallback() {
    ObjectNode json =
        (ObjectNode) HfTokenizer.readJson(HfFixtures.require("tokenizer-sentencepiece-bpe").resolve("tokenizer.json"));
    HfTokenizer plain = HfTokenizer.fromJson(json, "sp");
    assertEquals(plain.tokenId("<s>").orElseThrow(), plain.bosId());
    assertEquals(plain.tokenId("</s>").orElseThrow(), plain.eosId());
    // 😀 is not in the vocabulary: four byte-fallback tokens, decoded back to the emoji; this file
    // marks <0x..> as special, so (as in tokenizers) skipping special tokens drops them
    int[] ids = plain.encode("😀");
    assertEquals("😀", plain.decode(ids, false));
    assertEquals("", plain.decode(ids, true));
    assertEquals("<0xF0>", plain.token(ids[ids.length - 4]));
    // a run of byte tokens that is not UTF-8 gives one U+FFFD per byte, even for the valid "A"
    // (tokenizers 0.23.2 decodes [<0x80>, <0x41>] to "\uFFFD\uFFFD" too)
    int b = plain.tokenId("<0x80>").orElseThrow();
    int a = plain.tokenId("<0x41>").orElseThrow();
    assertEquals("\uFFFD\uFFFD", plain.decode(new int[] {b, a}, false));
  }

  @Test
  void decodeRejectsUnknownIds() {
    HfTokenizer t = byteLevel();
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {5, 1024}));
    assertTrue(e.getMessage().contains("1024"), e.getMessage());
  }

  @Test
  void unsupportedComponentsNameTheTypeAndTheFile() {
    ObjectNode json =
        (ObjectNode) HfTokenizer.readJson(HfFixtures.require("tokenizer-bytelevel-bpe").resolve("tokenizer.json"));
    ObjectNode bad = json.deepCopy();
    bad.putObject("normalizer").put("type", "Precompiled");
    DataFormatException e = assertThrows(DataFormatException.class, () -> HfTokenizer.fromJson(bad, "my/tokenizer.json"));
    assertTrue(e.getMessage().contains("my/tokenizer.json"), e.getMessage());
    assertTrue(e.getMessage().contains("\"Precompiled\""), e.getMessage());
    ObjectNode unigram = json.deepCopy();
    ((ObjectNode) unigram.get("model")).put("type", "Unigram");
    e = assertThrows(DataFormatException.class, () -> HfTokenizer.fromJson(unigram, "u.json"));
    assertTrue(e.getMessage().contains("Unigram"), e.getMessage());
    ObjectNode badDecoder = json.deepCopy();
    badDecoder.putObject("decoder").put("type", "WordPiece");
    e = assertThrows(DataFormatException.class, () -> HfTokenizer.fromJson(badDecoder, "d.json"));
    assertTrue(e.getMessage().contains("decoder") && e.getMessage().contains("WordPiece"), e.getMessage());
  }

  @Test
  void mergeWithAnUnknownTokenNamesTheEntry() {
    ObjectNode json =
        (ObjectNode) HfTokenizer.readJson(HfFixtures.require("tokenizer-bytelevel-bpe").resolve("tokenizer.json"));
    ((com.fasterxml.jackson.databind.node.ArrayNode) json.get("model").get("merges")).add("zz q");
    DataFormatException e = assertThrows(DataFormatException.class, () -> HfTokenizer.fromJson(json, "m.json"));
    assertTrue(e.getMessage().contains("model.merges[765]"), e.getMessage());
    assertTrue(e.getMessage().contains("zz"), e.getMessage());
  }

  @Test
  void aRepeatedMergeKeepsItsLastRankAsInTokenizers() {
    ObjectNode json =
        (ObjectNode) HfTokenizer.readJson(HfFixtures.require("tokenizer-bytelevel-bpe").resolve("tokenizer.json"));
    assertArrayEquals(new int[] {268, 279, 292, 327}, HfTokenizer.fromJson(json, "m.json").encode(" the cat that"));
    com.fasterxml.jackson.databind.node.ArrayNode pair = json.arrayNode().add("\u0120").add("t");
    ((com.fasterxml.jackson.databind.node.ArrayNode) json.get("model").get("merges")).add(pair);
    // ids from tokenizers 0.23.2 for the same file: "Ġ t" now comes last, so " the" is Ġ + "the"
    assertArrayEquals(
        new int[] {223, 984, 279, 292, 327}, HfTokenizer.fromJson(json, "m.json").encode(" the cat that"));
  }

  @Test
  void missingFileIsAClearError(@TempDir Path tmp) {
    RlhfException e = assertThrows(RlhfException.class, () -> HfTokenizer.fromDirectory(tmp));
    assertTrue(e.getMessage().contains("no tokenizer.json in " + tmp), e.getMessage());
  }

  @Test
  void cachedAndUncachedEncodingsAgree() {
    HfTokenizer t = byteLevel();
    String text = "The quick brown fox's 123456 jumps\r\n  over\tthe lazy dog! ";
    int[] first = t.encode(text);
    int[] second = t.encode(text); // every piece now comes from the cache
    assertArrayEquals(first, second);
    assertArrayEquals(first, byteLevel().encode(text));
  }
}
