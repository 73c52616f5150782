package org.rlhf4j.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.data.ChatMessage;
import org.rlhf4j.core.data.ChatTemplate;
import org.rlhf4j.core.hf.HfLlama;
import org.rlhf4j.core.hf.HfPretrained;
import org.rlhf4j.core.lora.LlamaLora;
import org.rlhf4j.core.lora.LoraConfig;
import org.rlhf4j.core.lora.LoraLayers;
import org.rlhf4j.core.lora.TargetModules;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.tokenizer.HfFixtures;

/**
 * {@link ChatLoraExample} on the fixture tiny Llama written by transformers ({@code
 * ../shared/fixtures/hf/llama-gqa}, which has no chat template: the fixture ChatML template is
 * given): every output file is checked by loading it back.
 */
class ChatLoraExampleTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final ModelOptions OPTS = new ModelOptions(DataType.FLOAT, 1);

  private static ChatLoraExample.Options options(Path model, Path out, Optional<Path> template) {
    return new ChatLoraExample.Options(
        model,
        out,
        template,
        LoraConfig.builder().r(4).alpha(8).targetModules(TargetModules.of(ChatLoraExample.DEFAULT_TARGETS)).build(),
        30,
        2,
        1e-2,
        8,
        64,
        1,
        7,
        Optional.empty(),
        Optional.empty(),
        "What is 3 plus 4?");
  }

  private static INDArray logits(CausalLm m, int[] ids) {
    int[] mask = new int[ids.length];
    Arrays.fill(mask, 1);
    return m.forward(TokenBatch.of(1, ids.length, ids, mask)).logits().dup();
  }

  private static double maxAbsDiff(INDArray a, INDArray b) {
    assertArrayEquals(a.shape(), b.shape());
    return a.sub(b).amaxNumber().doubleValue();
  }

  @Test
  void loraSftDpoSavesAdapterAndMergedModelAndAnswersWithTheChatTemplate(@TempDir Path tmp) throws Exception {
    Path model = HfFixtures.require("llama-gqa");
    Path chatml = HfFixtures.require("chat-templates/chatml");
    try (ChatLoraExample.Result r = ChatLoraExample.run(options(model, tmp, Optional.of(chatml.resolve("chat_template.jinja"))))) {
      // the files it wrote
      for (String f : List.of("data/sft.jsonl", "data/dpo.jsonl", "adapter/adapter_config.json", "adapter/adapter_model.safetensors",
          "merged/config.json", "merged/model.safetensors", "merged/tokenizer.json", "merged/tokenizer_config.json",
          "merged/generation_config.json")) {
        assertTrue(Files.isRegularFile(tmp.resolve(f)) && Files.size(tmp.resolve(f)) > 0, f);
      }
      assertTrue(Files.readString(tmp.resolve("data/sft.jsonl")).startsWith("{\"messages\":[{\"role\":\"system\""));
      JsonNode cfg = JSON.readTree(tmp.resolve("adapter/adapter_config.json").toFile());
      assertEquals(4, cfg.get("r").asInt());
      assertEquals(8.0, cfg.get("lora_alpha").asDouble());
      assertEquals("CAUSAL_LM", cfg.get("task_type").asText());
      assertEquals(model.toString(), cfg.get("base_model_name_or_path").asText());
      HashSet<String> targets = new HashSet<>();
      cfg.get("target_modules").forEach(t -> targets.add(t.asText()));
      assertEquals(new HashSet<>(ChatLoraExample.DEFAULT_TARGETS), targets);

      // training did something: SFT fitted the assistant turns, DPO prefers the chosen answers
      assertTrue(r.sftLossAfter() < r.sftLossBefore() - 1.0, "SFT loss " + r.sftLossBefore() + " -> " + r.sftLossAfter());
      double accuracy = r.dpo().finalEval().orElseThrow().accuracy();
      assertTrue(accuracy >= 0.9, "DPO held-out preference accuracy " + accuracy);

      // the prompt is the chat template's rendering with add_generation_prompt, encoded as is
      List<ChatMessage> question = List.of(ChatMessage.user("What is 3 plus 4?"));
      assertEquals(ChatTemplate.fromDirectory(chatml).generationPrompt(question), r.prompt());
      assertEquals("<|im_start|>user\nWhat is 3 plus 4?<|im_end|>\n<|im_start|>assistant\n", r.prompt());
      assertArrayEquals(r.tokenizer().encode(r.prompt()), r.promptIds());
      assertEquals(1, r.promptIds()[0], "<|im_start|> is one special token");
      assertFalse(r.reply().contains("<|im_"), "special tokens are skipped in the reply: " + r.reply());

      INDArray trained = logits(r.model(), r.promptIds());
      try (LlamaModel base = HfLlama.load(model, OPTS).model()) {
        // only the adapter changed: every base weight is still the downloaded one, the adapter moved
        for (ParameterLayout.Entry e : base.parameters().layout().entries()) {
          assertEquals(base.parameters().get(e.name()).array(), r.model().parameters().get(e.name()).array(), e.name());
        }
        INDArray baseLogits = logits(base, r.promptIds());
        assertTrue(maxAbsDiff(baseLogits, trained) > 1e-2, "the adapter changes the model");
        for (var m : r.lora().adapter().modules()) {
          assertTrue(r.lora().adapter().b(m.name()).array().amaxNumber().doubleValue() > 0, "B of " + m.name() + " was trained (it starts at 0)");
        }

        // the saved PEFT adapter on a fresh base gives the in-memory model's logits
        try (LoraLayers reloaded = LlamaLora.load(base, r.adapterDir())) {
          double d = maxAbsDiff(trained, logits(base, r.promptIds()));
          assertTrue(d < 1e-5, "reloaded adapter logits differ by " + d);
          base.setAdapters(null);
        }
      }

      // the merged Hugging Face folder loads with its tokenizer, chat template and end ids
      try (HfPretrained merged = HfPretrained.load(r.mergedDir(), OPTS)) {
        double d = maxAbsDiff(trained, logits(merged.llama(), r.promptIds()));
        assertTrue(d < 1e-5, "merged model logits differ by " + d);
        assertEquals(List.of(2), merged.eosIds());
        assertEquals(r.prompt(), merged.requireChatTemplate().generationPrompt(question));
        assertArrayEquals(r.promptIds(), merged.tokenizer().encode(r.prompt()));
        assertNotEquals(null, merged.config().get("architectures"));
        assertEquals(List.of("LlamaForCausalLM"), merged.config().get("architectures"));
      }
      System.out.printf("ChatLoraExample on llama-gqa: SFT loss %.3f -> %.3f, DPO accuracy %.2f, reply %s%n", r.sftLossBefore(),
          r.sftLossAfter(), accuracy, JSON.writeValueAsString(r.reply()));
    }
  }

  @Test
  void aModelWithoutChatTemplateNeedsOne(@TempDir Path tmp) {
    Path model = HfFixtures.require("llama-gqa");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ChatLoraExample.run(options(model, tmp, Optional.empty())));
    assertTrue(e.getMessage().contains("--chat-template") && e.getMessage().contains(model.toString()), e.getMessage());
  }
}
