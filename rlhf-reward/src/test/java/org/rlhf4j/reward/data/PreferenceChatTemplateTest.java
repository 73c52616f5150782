package org.rlhf4j.reward.data;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.data.ChatTemplate;

/** Preference data in {@code messages} form rendered with a model's chat template. */
class PreferenceChatTemplateTest {
  private static final ChatTemplate CHATML =
      ChatTemplate.builder()
          .template(
              "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'"
                  + " + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                  + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
          .build();

  @Test
  void messageListsUseTheTemplatesGenerationPrompt(@TempDir Path tmp) throws Exception {
    Path file = tmp.resolve("prefs.jsonl");
    Files.writeString(
        file,
        "{\"prompt\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
            + " {\"role\": \"user\", \"content\": \"Hi!\"}],"
            + " \"chosen\": [{\"role\": \"assistant\", \"content\": \"Hello.\"}],"
            + " \"rejected\": [{\"role\": \"assistant\", \"content\": \"Go away.\"}]}\n"
            + "{\"chosen\": [{\"role\": \"user\", \"content\": \"Hi!\"},"
            + " {\"role\": \"assistant\", \"content\": \"Hello.\"}],"
            + " \"rejected\": [{\"role\": \"user\", \"content\": \"Hi!\"},"
            + " {\"role\": \"assistant\", \"content\": \"No.\"}]}\n");
    List<Ranking> rankings =
        PreferenceDatasets.read(file, PreferenceDatasets.Format.AUTO, CHATML);
    assertEquals(2, rankings.size());
    assertEquals(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
            + "<|im_start|>assistant\n",
        rankings.get(0).prompt());
    assertEquals("Hello.", rankings.get(0).best());
    assertEquals("<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n", rankings.get(1).prompt());
  }
}
