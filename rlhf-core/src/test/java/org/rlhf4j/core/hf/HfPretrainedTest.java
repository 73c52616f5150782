package org.rlhf4j.core.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.data.ChatMessage;
import org.rlhf4j.core.data.ChatTemplate;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.HfTokenizer;

/** {@link HfPretrained}: a Hugging Face model folder in one call, its errors, and export → load. */
class HfPretrainedTest {
  private static final ModelOptions OPTS = new ModelOptions(DataType.FLOAT, 1);

  /** A copy of the fixture llama-gqa folder (files written by transformers) to modify. */
  private static Path copy(Path tmp, String name) throws Exception {
    Path src = HfFixtures.require("llama-gqa");
    Path dst = tmp.resolve(name);
    Files.createDirectories(dst);
    try (Stream<Path> files = Files.list(src)) {
      for (Path f : files.toList()) {
        Files.copy(f, dst.resolve(f.getFileName()));
      }
    }
    return dst;
  }

  private static String message(Throwable t) {
    return t.getMessage();
  }

  @Test
  void loadsTheFixtureFolder() throws Exception {
    Path dir = HfFixtures.require("llama-gqa");
    try (HfPretrained hf = HfPretrained.load(dir, OPTS)) {
      assertEquals(List.of(2), hf.eosIds(), "generation_config.json's eos_token_id");
      assertEquals(1024, hf.llama().vocabSize());
      HfTokenizer plain = HfTokenizer.fromFile(dir.resolve("tokenizer.json"));
      assertArrayEquals(plain.encode("<|im_start|>user\nTo be, or not to be"), hf.tokenizer().encode("<|im_start|>user\nTo be, or not to be"));
      assertEquals(plain.padId(), hf.padId());
      assertTrue(hf.chatTemplate().isEmpty(), "the fixture has no chat template");
      CheckpointException e = assertThrows(CheckpointException.class, hf::requireChatTemplate);
      assertTrue(message(e).contains("chat_template.jinja") && message(e).contains("withChatTemplate"), message(e));
      assertEquals("llama", hf.config().get("model_type"));
    }
  }

  @Test
  void readsChatTemplateAndEosListAndExportsAFolderThatLoadsBack(@TempDir Path tmp) throws Exception {
    Path dir = copy(tmp, "chat");
    Path chatml = HfFixtures.require("chat-templates/chatml");
    Files.copy(chatml.resolve("chat_template.jinja"), dir.resolve("chat_template.jinja"));
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<|im_start|>\", \"eos_token\": \"<|im_end|>\", \"pad_token\": \"<|endoftext|>\"}");
    Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [2, 0], \"pad_token_id\": 0}");
    List<ChatMessage> chat = List.of(ChatMessage.user("Write a haiku about rain."));
    try (HfPretrained hf = HfPretrained.load(dir, OPTS)) {
      assertEquals(List.of(2, 0), hf.eosIds());
      assertEquals(0, hf.padId());
      assertEquals(2, hf.tokenizer().eosId());
      ChatTemplate t = hf.requireChatTemplate();
      assertEquals(ChatTemplate.fromDirectory(dir).generationPrompt(chat), t.generationPrompt(chat));
      assertEquals("<|im_start|>user\nWrite a haiku about rain.<|im_end|>\n<|im_start|>assistant\n", t.generationPrompt(chat));
      assertEquals("<|im_end|>", t.eosToken());

      Path out = tmp.resolve("export");
      HfPretrained.export(hf.llama(), hf.tokenizer(), hf.eosIds(), out, HfLlama.ExportOptions.defaults());
      for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json")) {
        assertTrue(Files.isRegularFile(out.resolve(f)), f);
      }
      try (HfPretrained back = HfPretrained.load(out, OPTS)) {
        assertEquals(hf.eosIds(), back.eosIds());
        assertEquals(hf.tokenizer().bosId(), back.tokenizer().bosId());
        assertEquals(t.template(), back.requireChatTemplate().template());
        assertEquals(t.generationPrompt(chat), back.requireChatTemplate().generationPrompt(chat));
        assertEquals(hf.llama().parameters().flat().array(), back.llama().parameters().flat().array(), "F32 export is exact");
        int[] ids = hf.tokenizer().encode(t.generationPrompt(chat));
        int[] mask = new int[ids.length];
        java.util.Arrays.fill(mask, 1);
        TokenBatch b = TokenBatch.of(1, ids.length, ids, mask);
        assertEquals(hf.llama().forward(b).logits(), back.llama().forward(b).logits());
      }
    }
  }

  @Test
  void errorsNameTheMissingFileOrBadField(@TempDir Path tmp) throws Exception {
    CheckpointException e = assertThrows(CheckpointException.class, () -> HfPretrained.load(tmp.resolve("nope"), OPTS));
    assertTrue(message(e).contains("not a directory"), message(e));

    Path noConfig = copy(tmp, "no-config");
    Files.delete(noConfig.resolve("config.json"));
    e = assertThrows(CheckpointException.class, () -> HfPretrained.load(noConfig, OPTS));
    assertTrue(message(e).contains("no config.json"), message(e));

    Path noWeights = copy(tmp, "bin-only");
    Files.move(noWeights.resolve("model.safetensors"), noWeights.resolve("pytorch_model.bin"));
    e = assertThrows(CheckpointException.class, () -> HfPretrained.load(noWeights, OPTS));
    assertTrue(message(e).contains("no model.safetensors") && message(e).contains(".bin"), message(e));

    Path noTok = copy(tmp, "no-tokenizer");
    Files.delete(noTok.resolve("tokenizer.json"));
    e = assertThrows(CheckpointException.class, () -> HfPretrained.load(noTok, OPTS));
    assertTrue(message(e).contains("no tokenizer.json"), message(e));

    Path badType = copy(tmp, "bad-type");
    Files.writeString(badType.resolve("config.json"), Files.readString(badType.resolve("config.json")).replace("\"llama\"", "\"bert\""));
    e = assertThrows(CheckpointException.class, () -> HfPretrained.load(badType, OPTS));
    assertTrue(message(e).contains("model_type") && message(e).contains("bert"), message(e));

    Path badEos = copy(tmp, "bad-eos");
    Files.writeString(badEos.resolve("generation_config.json"), "{\"eos_token_id\": [2, 5000]}");
    e = assertThrows(CheckpointException.class, () -> HfPretrained.load(badEos, OPTS));
    assertTrue(message(e).contains("generation_config.json") && message(e).contains("eos_token_id") && message(e).contains("5000"), message(e));
  }
}
