package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.data.ChatMessage;
import org.rlhf4j.core.data.ChatTemplate;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.llama.LlamaConfig;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.tokenizer.HfFixtures;
import org.rlhf4j.core.tokenizer.HfTokenizer;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;

/**
 * A {@code tokenizer.json} tokenizer ({@link HfTokenizer}) and its chat template survive {@link
 * Tokenizers#save}/{@link Tokenizers#load} and a Llama checkpoint ({@link ModelCheckpoint}): the
 * same ids on every reference text of the fixture tokenizers, the same BOS/EOS/PAD, the same
 * template. Before, saving one was refused ("only ByteTokenizer and Gpt2BpeTokenizer can be saved").
 */
class HfTokenizerCheckpointTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<ChatMessage> CHAT =
      List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hi <|im_end|> there!"), ChatMessage.assistant("Hello."));

  /** Every reference text of {@code folder}'s tokenizer-ref.json gives the same ids from both. */
  private static int sameIds(String folder, Tokenizer a, Tokenizer b) throws Exception {
    JsonNode texts = JSON.readTree(HfFixtures.require(folder).resolve("tokenizer-ref.json").toFile()).get("texts");
    for (JsonNode t : texts) {
      assertArrayEquals(a.encode(t.textValue()), b.encode(t.textValue()), () -> folder + ": " + t);
      int[] ids = a.encode(t.textValue());
      assertEquals(a.decode(ids), b.decode(ids));
    }
    return texts.size();
  }

  private static void sameSpecials(HfTokenizer a, HfTokenizer b) {
    assertEquals(a.vocabSize(), b.vocabSize());
    assertEquals(a.bosId(), b.bosId(), "bos");
    assertEquals(a.eosId(), b.eosId(), "eos");
    assertEquals(a.padId(), b.padId(), "pad");
    assertEquals(a.addedTokens(), b.addedTokens());
    assertEquals(a.prefixTokens(), b.prefixTokens());
    assertEquals(a.chatTemplate(), b.chatTemplate());
  }

  @Test
  void fixtureTokenizersRoundTripThroughSaveAndLoad(@TempDir Path tmp) throws Exception {
    for (String folder : List.of("tokenizer-bytelevel-bpe", "tokenizer-sentencepiece-bpe")) {
      HfTokenizer tok = HfTokenizer.fromFile(HfFixtures.require(folder).resolve("tokenizer.json"));
      Path dir = tmp.resolve(folder);
      Tokenizers.save(tok, dir);
      HfTokenizer back = assertInstanceOf(HfTokenizer.class, Tokenizers.load(dir));
      assertTrue(sameIds(folder, tok, back) > 50);
      sameSpecials(tok, back);
      assertArrayEquals(
          Files.readAllBytes(HfFixtures.require(folder).resolve("tokenizer.json")),
          Files.readAllBytes(dir.resolve("tokenizer.json")),
          "tokenizer.json is written byte for byte");
      JsonNode meta = JSON.readTree(dir.resolve(Tokenizers.METADATA_FILE).toFile());
      assertEquals(Tokenizers.HF_TOKENIZER_TYPE, meta.get("type").asText());
      JsonNode hf = JSON.readTree(dir.resolve(Tokenizers.HF_CONFIG_FILE).toFile());
      assertEquals(tok.token(tok.eosId()), hf.get("eos_token").asText());
      assertEquals("PreTrainedTokenizerFast", hf.get("tokenizer_class").asText());
      assertFalse(hf.has("type") || hf.has("format_version"), "no rlhf4j keys in transformers' file: " + hf);
      // without our metadata, the directory is a plain Hugging Face one and still loads the same
      Files.delete(dir.resolve(Tokenizers.METADATA_FILE));
      HfTokenizer plain = assertInstanceOf(HfTokenizer.class, Tokenizers.load(dir));
      sameSpecials(tok, plain);
      sameIds(folder, tok, plain);
    }
  }

  @Test
  void chatTemplateTravelsInTokenizerConfig(@TempDir Path tmp) throws Exception {
    for (String t : List.of("chatml", "rich")) {
      Path src = HfFixtures.require("chat-templates/" + t);
      HfTokenizer tok = HfTokenizer.fromDirectory(src); // chat_template.jinja + tokenizer_config.json
      assertTrue(tok.chatTemplate().isPresent());
      ChatTemplate original = ChatTemplate.fromDirectory(src);
      Path dir = tmp.resolve(t);
      Tokenizers.save(tok, dir);
      assertFalse(Files.exists(dir.resolve(HfTokenizer.CHAT_TEMPLATE_FILE)));
      JsonNode hf = JSON.readTree(dir.resolve(Tokenizers.HF_CONFIG_FILE).toFile());
      assertEquals(original.template(), hf.get("chat_template").asText());
      JsonNode srcConfig = JSON.readTree(src.resolve(Tokenizers.HF_CONFIG_FILE).toFile());
      srcConfig.fields().forEachRemaining(e -> assertEquals(e.getValue(), hf.get(e.getKey()), e.getKey() + " kept"));
      HfTokenizer back = assertInstanceOf(HfTokenizer.class, Tokenizers.load(dir));
      sameSpecials(tok, back);
      ChatTemplate reread = ChatTemplate.fromDirectory(dir);
      assertEquals(original.bosToken(), reread.bosToken());
      assertEquals(original.eosToken(), reread.eosToken());
      for (boolean gen : new boolean[] {false, true}) {
        List<ChatMessage> chat = gen ? CHAT.subList(0, 2) : CHAT;
        assertEquals(original.render(chat, gen), reread.render(chat, gen));
        assertArrayEquals(original.encode(tok, chat, gen), reread.encode(back, chat, gen));
      }
    }
  }

  @Test
  void attachedTemplateIsSavedAndALlamaCheckpointCarriesTheTokenizer(@TempDir Path tmp) throws Exception {
    Path tokDir = HfFixtures.require("tokenizer-bytelevel-bpe");
    String chatml = Files.readString(HfFixtures.require("chat-templates/chatml").resolve(HfTokenizer.CHAT_TEMPLATE_FILE));
    HfTokenizer tok = HfTokenizer.fromFile(tokDir.resolve("tokenizer.json")).withChatTemplate(chatml);
    assertEquals(chatml, tok.chatTemplate().orElseThrow());
    LlamaConfig c = LlamaConfig.builder().vocabSize(tok.vocabSize()).hiddenSize(16).intermediateSize(24).layers(1).heads(2)
        .kvHeads(1).contextLength(16).build();
    Path ckpt = tmp.resolve("ckpt");
    try (LlamaModel m = LlamaModel.randomInit(c, 3, new ModelOptions(DataType.FLOAT, 1))) {
      ModelCheckpoint.save(ckpt, m, Provenance.of("test", 1, Map.of(), null), Map.of(), tok);
    }
    ModelCheckpoint.LoadedLm loaded = ModelCheckpoint.loadAny(ckpt, new ModelOptions(DataType.FLOAT, 1));
    try (var model = loaded.model()) {
      HfTokenizer back = assertInstanceOf(HfTokenizer.class, loaded.tokenizer().orElseThrow());
      sameSpecials(tok, back);
      assertTrue(sameIds("tokenizer-bytelevel-bpe", tok, back) > 50);
      ChatTemplate chat = ChatTemplate.fromDirectory(ckpt);
      assertEquals(chatml, chat.template());
      assertEquals(
          "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", chat.generationPrompt(List.of(ChatMessage.user("Hi"))));
    }
  }

  @Test
  void badMetadataIsNamed(@TempDir Path tmp) throws Exception {
    HfTokenizer tok = HfTokenizer.fromFile(HfFixtures.require("tokenizer-bytelevel-bpe").resolve("tokenizer.json"));
    Tokenizers.save(tok, tmp);
    Path meta = tmp.resolve(Tokenizers.METADATA_FILE);
    Files.writeString(meta, Files.readString(meta).replace("\"tokenizer.json\"", "\"other.json\""));
    DataFormatException e = assertThrows(DataFormatException.class, () -> Tokenizers.load(tmp));
    assertTrue(e.getMessage().contains("tokenizer_file") && e.getMessage().contains(meta.toString()), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> tok.withChatTemplate(" "));
  }
}
