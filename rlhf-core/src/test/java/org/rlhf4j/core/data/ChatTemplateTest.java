package org.rlhf4j.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.data.ChatTemplate.ChatTemplateException;
import org.rlhf4j.core.tokenizer.HfFixtures;
import org.rlhf4j.core.tokenizer.HfTokenizer;

/** Chat templates rendered with Jinjava against the text transformers 5.17 rendered (fixtures). */
class ChatTemplateTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static List<ChatMessage> messages(JsonNode n) {
    List<ChatMessage> out = new ArrayList<>();
    for (JsonNode m : n) {
      out.add(new ChatMessage(m.get("role").textValue(), m.get("content").textValue()));
    }
    return out;
  }

  private static int[] ints(JsonNode n) {
    int[] a = new int[n.size()];
    for (int i = 0; i < a.length; i++) {
      a[i] = n.get(i).intValue();
    }
    return a;
  }

  @Test
  void fixtureTextsAndIdsMatchTransformers() throws Exception {
    Path dir = HfFixtures.require("chat-templates");
    JsonNode ref = JSON.readTree(dir.resolve("chat-ref.json").toFile());
    JsonNode chatIds;
    try (InputStream in = getClass().getResourceAsStream("/hf-chat-ids.json")) {
      chatIds = JSON.readTree(in).get("ids");
    }
    int checked = 0;
    for (var it = ref.get("templates").fields(); it.hasNext(); ) {
      var e = it.next();
      String name = e.getKey();
      ChatTemplate fromDir = ChatTemplate.fromDirectory(dir.resolve(name));
      assertEquals(e.getValue().get("template").textValue(), fromDir.template());
      assertEquals(ref.get("bos_token").textValue(), fromDir.bosToken());
      assertEquals(ref.get("eos_token").textValue(), fromDir.eosToken());
      ChatTemplate fromText =
          ChatTemplate.builder()
              .template(e.getValue().get("template").textValue())
              .bosToken(ref.get("bos_token").textValue())
              .eosToken(ref.get("eos_token").textValue())
              .build();
      HfTokenizer tok = HfTokenizer.fromDirectory(dir.resolve(name));
      JsonNode cases = e.getValue().get("cases");
      for (int i = 0; i < cases.size(); i++) {
        JsonNode c = cases.get(i);
        List<ChatMessage> msgs = messages(c.get("messages"));
        boolean gen = c.get("add_generation_prompt").booleanValue();
        String what = name + " case " + i;
        assertEquals(c.get("text").textValue(), fromDir.render(msgs, gen), what);
        assertEquals(c.get("text").textValue(), fromText.render(msgs, gen), what);
        int[] expected =
            c.get("ids").get(0).isInt() ? ints(c.get("ids")) : ints(chatIds.get(name).get(i));
        assertArrayEquals(expected, fromDir.encode(tok, msgs, gen), what + " ids");
        checked++;
      }
    }
    assertEquals(12, checked);
  }

  @Test
  void raiseExceptionCarriesTheTemplatesMessage() throws Exception {
    Path dir = HfFixtures.require("chat-templates/rich");
    ChatTemplate t = ChatTemplate.fromDirectory(dir);
    ChatTemplateException e =
        assertThrows(
            ChatTemplateException.class,
            () -> t.render(List.of(ChatMessage.assistant("hi"), ChatMessage.user("x")), false));
    assertTrue(e.getMessage().contains("roles must alternate user/assistant"), e.getMessage());
    assertTrue(e.getMessage().contains("chat_template.jinja"), e.getMessage());
  }

  @Test
  void brokenTemplateFailsWithItsName() {
    ChatTemplate t =
        ChatTemplate.builder().template("{{ messages[0].content.nosuchmethod() }}").source("t.jinja").build();
    ChatTemplateException e =
        assertThrows(ChatTemplateException.class, () -> t.render(List.of(ChatMessage.user("a")), false));
    assertTrue(e.getMessage().contains("t.jinja"), e.getMessage());
  }

  @Test
  void pythonStringAndDictMethodsAndBlockTrimming() {
    String src =
        "{% for m in messages %}\n"
            + "  {{ m.content.strip() }}|{{ m.content.lstrip() }}|{{ m.content.rstrip() }}|"
            + "{{ 'Y' if m.content.strip().startswith('a') else 'N' }}|"
            + "{% if m.content.strip().endswith(('z', 'b')) %}Y{% endif %}|"
            + "{{ m.content.upper() }}|{{ m.content.split() | length }}|{{ m.content.split('a') | length }}|"
            + "{{ m.content.replace('a', 'x') }}|{{ '-'.join(['p', 'q']) }}|{{ m.role.title() }}\n"
            + "{% endfor %}\n"
            + "{% for k, v in extra.items() %}{{ k }}={{ v }};{% endfor %}{{ extra.get('nope', 'dflt') }}"
            + "|{{ messages | tojson }}";
    ChatTemplate t = ChatTemplate.builder().template(src).build();
    String out = t.render(List.of(ChatMessage.user(" a b ")), false, Map.of("extra", Map.of("k", 1)));
    // what Python's jinja2 (trim_blocks, lstrip_blocks) renders for the same template and data
    assertEquals(
        "  a b|a b | a b|Y|Y| A B |2|2| x b |p-q|User\n"
            + "k=1;dflt|[{\"role\": \"user\", \"content\": \" a b \"}]",
        out);
    // Python's rendering of values, operator precedence and the dropped final newline
    ChatTemplate values =
        ChatTemplate.builder()
            .template("{{ [1,'a'] }}|{% if not (1 == 2) %}y{% endif %}\n")
            .build();
    assertEquals("[1, 'a']|y", values.render(List.of()));
  }

  @Test
  void sftExampleTakesTheTurnMarkerIntoTheCompletion() throws Exception {
    Path dir = HfFixtures.require("chat-templates/chatml");
    ChatTemplate t = ChatTemplate.fromDirectory(dir);
    SftExample ex =
        t.toSftExample(List.of(ChatMessage.user("Hi!"), ChatMessage.assistant("Hello.")));
    assertEquals("<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n", ex.prompt());
    assertEquals("Hello.<|im_end|>\n", ex.completion());
  }

  @Test
  void sftAndPreferenceReadersUseTheTemplate(@TempDir Path tmp) throws Exception {
    Path dir = HfFixtures.require("chat-templates/chatml");
    ChatTemplate t = ChatTemplate.fromDirectory(dir);
    Path file = tmp.resolve("sft.jsonl");
    Files.writeString(
        file,
        "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi!\"},"
            + " {\"role\": \"assistant\", \"content\": \"Hello.\"}]}\n");
    List<SftExample> examples = SftDatasets.read(file, SftDatasets.Format.AUTO, t);
    assertEquals(1, examples.size());
    assertEquals("<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n", examples.get(0).prompt());
    assertEquals("Hello.<|im_end|>\n", examples.get(0).completion());
  }

  @Test
  void missingTemplateIsAClearError(@TempDir Path tmp) {
    Exception e = assertThrows(RuntimeException.class, () -> ChatTemplate.fromDirectory(tmp));
    assertTrue(e.getMessage().contains("no chat template in " + tmp), e.getMessage());
  }

  @Test
  void templateFromTokenizerConfigWithAddedTokenDicts(@TempDir Path tmp) throws Exception {
    Files.writeString(
        tmp.resolve("tokenizer_config.json"),
        "{\"chat_template\": [{\"name\": \"default\", \"template\": \"{{ bos_token }}{{ messages[0]['content'] }}{{ eos_token }}\"},"
            + " {\"name\": \"tool_use\", \"template\": \"x\"}],"
            + " \"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}, \"eos_token\": \"</s>\"}");
    ChatTemplate t = ChatTemplate.fromDirectory(tmp);
    assertEquals("<s>hey</s>", t.render(List.of(ChatMessage.user("hey"))));
  }
}
