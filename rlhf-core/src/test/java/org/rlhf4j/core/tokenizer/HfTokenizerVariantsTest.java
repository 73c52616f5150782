package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Variants of the fixture tokenizers (Metaspace, TemplateProcessing with BOS, unk and fuse_unk,
 * ignore_merges with string merges, GPT-2 ByteLevel pre-tokenizer, added tokens with
 * single_word/lstrip/rstrip/normalized, every Split behaviour and invert) against the ids and
 * decodes that the Rust {@code tokenizers} library computed for them ({@code
 * hf-tokenizer-variants.json}, written by {@code tools/hf_tokenizer_variants.py}).
 */
class HfTokenizerVariantsTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  static ObjectNode build(JsonNode spec) {
    Path dir = HfFixtures.require(spec.get("base").textValue());
    ObjectNode t = (ObjectNode) HfTokenizer.readJson(dir.resolve("tokenizer.json"));
    for (Iterator<Map.Entry<String, JsonNode>> it = spec.path("patch").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      t.set(e.getKey(), e.getValue());
    }
    ObjectNode model = (ObjectNode) t.get("model");
    for (Iterator<Map.Entry<String, JsonNode>> it = spec.path("model").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      model.set(e.getKey(), e.getValue());
    }
    if (spec.path("string_merges").asBoolean(false)) {
      ArrayNode merges = JSON.createArrayNode();
      for (JsonNode m : model.get("merges")) {
        merges.add(m.get(0).textValue() + " " + m.get(1).textValue());
      }
      model.set("merges", merges);
    }
    ObjectNode vocab = (ObjectNode) model.get("vocab");
    int next = 0;
    for (JsonNode id : vocab) {
      next = Math.max(next, id.intValue() + 1);
    }
    for (JsonNode a : spec.path("add_tokens")) {
      ObjectNode copy = ((ObjectNode) a).deepCopy();
      copy.put("id", next);
      ((ArrayNode) t.get("added_tokens")).add(copy);
      vocab.put(a.get("content").textValue(), next);
      next++;
    }
    return t;
  }

  private static int[] ints(JsonNode n) {
    int[] a = new int[n.size()];
    for (int i = 0; i < a.length; i++) {
      a[i] = n.get(i).intValue();
    }
    return a;
  }

  @TestFactory
  Stream<DynamicTest> variantsMatchTokenizers() throws Exception {
    JsonNode ref;
    try (InputStream in = getClass().getResourceAsStream("/hf-tokenizer-variants.json")) {
      ref = JSON.readTree(in);
    }
    JsonNode texts = ref.get("texts");
    Stream.Builder<DynamicTest> tests = Stream.builder();
    for (Iterator<Map.Entry<String, JsonNode>> it = ref.get("variants").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> v = it.next();
      String name = v.getKey();
      tests.add(
          DynamicTest.dynamicTest(
              name,
              () -> {
                HfTokenizer tok = HfTokenizer.fromJson(build(v.getValue().get("spec")), name);
                JsonNode cases = v.getValue().get("cases");
                for (int i = 0; i < texts.size(); i++) {
                  String text = texts.get(i).textValue();
                  JsonNode c = cases.get(i);
                  String what = name + " text " + JSON.writeValueAsString(text);
                  int[] ids = tok.encode(text);
                  assertArrayEquals(ints(c.get("ids")), ids, what);
                  assertArrayEquals(ints(c.get("ids_special")), tok.encode(text, true), what + " +special");
                  assertArrayEquals(
                      ints(c.get("ids_as_text")),
                      tok.encode(text, false, HfTokenizer.SpecialTokens.AS_TEXT),
                      what + " specials as text");
                  assertEquals(c.get("decoded").textValue(), tok.decode(ids, true), what + " decode");
                  assertEquals(
                      c.get("decoded_keep").textValue(), tok.decode(ids, false), what + " decode keep");
                }
              }));
    }
    return tests.build();
  }
}
