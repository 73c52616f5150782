package org.rlhf4j.core.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer.Merge;

/**
 * A tiny byte-level BPE vocabulary for tests: the 256 byte tokens (ids 0..255 in byte order), a few
 * merges that build {@code hello}, {@code Ġthe} and {@code Ġworld}, then {@code <|endoftext|>}; and
 * writers for the three file formats.
 */
final class TinyBpe {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String[][] MERGES = {
    {"l", "l"},
    {"e", "ll"},
    {"h", "ell"},
    {"hell", "o"},
    {"Ġ", "t"},
    {"h", "e"},
    {"Ġt", "he"},
    {"Ġ", "w"},
    {"o", "r"},
    {"Ġw", "or"},
    {"Ġwor", "l"},
    {"Ġworl", "d"},
  };

  private TinyBpe() {}

  /** Token to id: bytes, then merge results in merge order, then {@code <|endoftext|>}. */
  static Map<String, Integer> vocab() {
    Map<String, Integer> v = new LinkedHashMap<>();
    for (int b = 0; b < 256; b++) {
      v.put(String.valueOf(ByteLevel.charOf(b)), b);
    }
    for (String[] m : MERGES) {
      v.putIfAbsent(m[0] + m[1], v.size());
    }
    v.put(Gpt2BpeTokenizer.END_OF_TEXT, v.size());
    return v;
  }

  static List<Merge> merges() {
    List<Merge> out = new ArrayList<>();
    for (String[] m : MERGES) {
      out.add(new Merge(m[0], m[1]));
    }
    return out;
  }

  static String mergesText() {
    StringBuilder sb = new StringBuilder("#version: 0.2\n");
    for (String[] m : MERGES) {
      sb.append(m[0]).append(' ').append(m[1]).append('\n');
    }
    return sb.toString();
  }

  /** Writes {@code vocabName} (JSON) and {@code mergesName} into {@code dir}. */
  static void writeVocabAndMerges(Path dir, String vocabName, String mergesName)
      throws IOException {
    Files.createDirectories(dir);
    Files.write(dir.resolve(vocabName), JSON.writeValueAsBytes(vocab()));
    Files.writeString(dir.resolve(mergesName), mergesText(), StandardCharsets.UTF_8);
  }

  /**
   * Writes a Hugging Face {@code tokenizer.json}; with {@code arrayMerges} the merges are
   * two-element arrays and {@code <|endoftext|>} is only in {@code added_tokens}.
   */
  static void writeTokenizerJson(Path dir, boolean arrayMerges) throws IOException {
    Files.createDirectories(dir);
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "1.0");
    ArrayNode added = root.putArray("added_tokens");
    Map<String, Integer> vocab = vocab();
    int eot = vocab.get(Gpt2BpeTokenizer.END_OF_TEXT);
    added
        .addObject()
        .put("id", eot)
        .put("content", Gpt2BpeTokenizer.END_OF_TEXT)
        .put("special", true);
    ObjectNode pre = root.putObject("pre_tokenizer");
    pre.put("type", "ByteLevel")
        .put("add_prefix_space", false)
        .put("trim_offsets", true)
        .put("use_regex", true);
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE").putNull("dropout").putNull("unk_token");
    if (arrayMerges) {
      vocab.remove(Gpt2BpeTokenizer.END_OF_TEXT);
    }
    model.set("vocab", JSON.valueToTree(vocab));
    ArrayNode merges = model.putArray("merges");
    for (String[] m : MERGES) {
      if (arrayMerges) {
        merges.addArray().add(m[0]).add(m[1]);
      } else {
        merges.add(m[0] + " " + m[1]);
      }
    }
    Files.write(dir.resolve("tokenizer.json"), JSON.writeValueAsBytes(root));
  }
}
