package org.rlhf4j.core.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer.Merge;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the BPE model of a Hugging Face {@code tokenizer.json}: {@code model.vocab}, {@code
 * model.merges} (strings {@code "a b"} or, in newer files, two-element arrays) and {@code
 * added_tokens}, whose entries join the vocabulary. JSON has no useful line numbers here (such
 * files are often one line), so errors give the 1-based index of the bad entry in place of a line.
 */
final class HfTokenizerJson {
  private static final Logger log = LoggerFactory.getLogger(HfTokenizerJson.class);

  /** The file name of a Hugging Face fast tokenizer. */
  static final String FILE = "tokenizer.json";

  /** The vocabulary (added tokens included) and merges of a {@code tokenizer.json}. */
  record Model(Map<String, Integer> vocab, List<Merge> merges) {}

  private HfTokenizerJson() {}

  /**
   * Whether {@code file} describes exactly GPT-2's byte-level BPE (a {@code ByteLevel} pre-tokenizer
   * without prefix space, no normalizer, no byte fallback), which {@link Gpt2BpeTokenizer} applies;
   * other tokenizer.json files (Llama 3's split regex, SentencePiece-style) need {@link HfTokenizer}.
   * An unreadable file answers true, so that the GPT-2 reader reports what is wrong with it.
   */
  static boolean isGpt2(Path file) {
    JsonNode root;
    try {
      root = BpeFiles.JSON.readTree(file.toFile());
    } catch (IOException e) {
      return true;
    }
    if (root == null || !root.isObject()) {
      return true;
    }
    JsonNode pre = root.path("pre_tokenizer");
    JsonNode norm = root.path("normalizer");
    return pre.path("type").asText().equals("ByteLevel")
        && !pre.path("add_prefix_space").asBoolean(false)
        && (norm.isMissingNode() || norm.isNull())
        && !root.path("model").path("byte_fallback").asBoolean(false);
  }

  /**
   * Reads {@code file}.
   *
   * @throws DataFormatException if it is not a BPE tokenizer.json or an entry is malformed
   * @throws org.rlhf4j.core.RlhfException if it is missing or unreadable
   */
  static Model read(Path file) {
    String src = file.toString();
    JsonNode root;
    try {
      root = BpeFiles.JSON.readTree(file.toFile());
    } catch (JsonProcessingException e) {
      throw BpeFiles.invalidJson(src, e);
    } catch (IOException e) {
      throw BpeFiles.unreadable("tokenizer.json", file, e);
    }
    if (root == null || !root.isObject() || !root.path("model").isObject()) {
      throw new DataFormatException(src, 1, "expected a JSON object with a \"model\" object");
    }
    JsonNode model = root.get("model");
    String type = model.path("type").asText("BPE");
    if (!type.equals("BPE")) {
      throw new DataFormatException(
          src, 1, "model.type is " + BpeVocabulary.quote(type) + ", expected \"BPE\"");
    }
    warnAboutOptions(src, root, model);
    Map<Integer, String> byId = new LinkedHashMap<>();
    Map<String, Integer> vocab = readVocab(src, model.path("vocab"), byId);
    JsonNode added = root.path("added_tokens");
    for (int i = 0; i < added.size(); i++) {
      JsonNode a = added.get(i);
      String where = "added_tokens[" + i + "]";
      if (!a.path("content").isTextual() || !a.path("id").isInt() || a.get("id").intValue() < 0) {
        throw new DataFormatException(
            src,
            i + 1,
            where + ": expected {\"id\": non-negative int, \"content\": string}, got " + a);
      }
      String content = a.get("content").textValue();
      int id = a.get("id").intValue();
      Integer known = vocab.get(content);
      if (known == null) {
        add(src, i + 1, where, content, id, vocab, byId);
      } else if (known != id) {
        throw new DataFormatException(
            src,
            i + 1,
            where
                + ": token "
                + BpeVocabulary.quote(content)
                + " has id "
                + id
                + " but model.vocab gives it "
                + known);
      }
    }
    JsonNode mergesNode = model.path("merges");
    if (!mergesNode.isArray()) {
      throw new DataFormatException(
          src, 1, "model.merges must be an array, got " + mergesNode.getNodeType());
    }
    List<Merge> merges = new ArrayList<>(mergesNode.size());
    for (int i = 0; i < mergesNode.size(); i++) {
      merges.add(merge(src, i, mergesNode.get(i)));
    }
    return new Model(vocab, merges);
  }

  /**
   * {@code model.vocab} (token to id) of a tokenizer.json, checked: ids are non-negative integers used
   * once. Fills {@code byId} (id to token) as well; errors name the file and the entry.
   */
  static Map<String, Integer> readVocab(String src, JsonNode vocabNode, Map<Integer, String> byId) {
    if (!vocabNode.isObject()) {
      throw new DataFormatException(
          src, 1, "model.vocab must be an object from token to id, got " + vocabNode.getNodeType());
    }
    Map<String, Integer> vocab = new LinkedHashMap<>(vocabNode.size() * 2);
    int index = 0;
    for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      index++;
      JsonNode v = e.getValue();
      if (!v.isInt() || v.intValue() < 0) {
        throw new DataFormatException(
            src,
            index,
            "model.vocab entry "
                + index
                + ", token "
                + BpeVocabulary.quote(e.getKey())
                + ": id must be a non-negative integer, got "
                + v);
      }
      add(src, index, "model.vocab entry " + index, e.getKey(), v.intValue(), vocab, byId);
    }
    return vocab;
  }

  private static void add(
      String src,
      long index,
      String where,
      String token,
      int id,
      Map<String, Integer> vocab,
      Map<Integer, String> byId) {
    String other = byId.putIfAbsent(id, token);
    if (other != null) {
      throw new DataFormatException(
          src,
          index,
          where
              + ": id "
              + id
              + " of token "
              + BpeVocabulary.quote(token)
              + " is already used by token "
              + BpeVocabulary.quote(other));
    }
    vocab.put(token, id);
  }

  private static Merge merge(String src, int i, JsonNode m) {
    String where = "model.merges[" + i + "]";
    if (m.isTextual()) {
      String s = m.textValue();
      int space = s.indexOf(' ');
      if (space <= 0 || space == s.length() - 1 || s.indexOf(' ', space + 1) >= 0) {
        throw new DataFormatException(
            src,
            i + 1,
            where + ": expected two tokens separated by one space, got " + BpeVocabulary.quote(s));
      }
      return new Merge(s.substring(0, space), s.substring(space + 1));
    }
    if (m.isArray()
        && m.size() == 2
        && m.get(0).isTextual()
        && m.get(1).isTextual()
        && !m.get(0).textValue().isEmpty()
        && !m.get(1).textValue().isEmpty()) {
      return new Merge(m.get(0).textValue(), m.get(1).textValue());
    }
    throw new DataFormatException(
        src,
        i + 1,
        where
            + ": expected \"left right\" or [\"left\", \"right\"] with non-empty tokens, got "
            + m);
  }

  /**
   * The UTF-8 JSON of a Hugging Face {@code tokenizer.json} for {@code tok}, laid out as GPT-2's
   * own: ByteLevel pre-tokenizer (GPT-2's regex, no prefix space), ByteLevel post-processor and
   * decoder, a BPE model with the vocabulary in id order and the merges as {@code "left right"}
   * strings (the form every version of the {@code tokenizers} library reads), and each special
   * token (e.g. {@code <|endoftext|>}) in {@code added_tokens}.
   */
  static byte[] write(Gpt2BpeTokenizer tok) {
    ObjectNode root = BpeFiles.JSON.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    tok.specialTokens().entrySet().stream()
        .sorted(Map.Entry.comparingByValue())
        .forEach(
            e -> {
              ObjectNode a = added.addObject();
              a.put("id", e.getValue());
              a.put("content", e.getKey());
              a.put("single_word", false);
              a.put("lstrip", false);
              a.put("rstrip", false);
              a.put("normalized", true);
              a.put("special", true);
            });
    root.putNull("normalizer");
    byteLevel(root.putObject("pre_tokenizer"), false, true);
    byteLevel(root.putObject("post_processor"), true, false);
    byteLevel(root.putObject("decoder"), true, true);
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.putNull("dropout");
    model.putNull("unk_token");
    model.put("continuing_subword_prefix", "");
    model.put("end_of_word_suffix", "");
    model.put("fuse_unk", false);
    model.put("byte_fallback", false);
    model.put("ignore_merges", false);
    ObjectNode vocab = model.putObject("vocab");
    for (int id = 0; id < tok.vocabSize(); id++) {
      vocab.put(tok.token(id), id);
    }
    ArrayNode merges = model.putArray("merges");
    for (Merge m : tok.merges()) {
      merges.add(m.left() + " " + m.right());
    }
    try {
      return BpeFiles.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
    } catch (JsonProcessingException e) {
      throw new RlhfException("cannot write tokenizer.json: " + e, e);
    }
  }

  private static void byteLevel(
      ObjectNode o, boolean prefixSpace, boolean trim) {
    o.put("type", "ByteLevel");
    o.put("add_prefix_space", prefixSpace);
    o.put("trim_offsets", trim);
    o.put("use_regex", true);
  }

  /** Logs options that this GPT-2 implementation does not honour, since ids may then differ. */
  private static void warnAboutOptions(String src, JsonNode root, JsonNode model) {
    if (model.path("ignore_merges").asBoolean(false)) {
      log.warn(
          "{}: model.ignore_merges = true is ignored; encodings may differ from Hugging Face's",
          src);
    }
    for (String opt : new String[] {"dropout", "continuing_subword_prefix", "end_of_word_suffix"}) {
      JsonNode v = model.path(opt);
      if (!v.isMissingNode() && !v.isNull() && !(v.isTextual() && v.textValue().isEmpty())) {
        log.warn(
            "{}: model.{} = {} is ignored; encodings may differ from Hugging Face's", src, opt, v);
      }
    }
    JsonNode pre = root.path("pre_tokenizer");
    if (!pre.isMissingNode()
        && !pre.isNull()
        && !(pre.path("type").asText().equals("ByteLevel")
            && !pre.path("add_prefix_space").asBoolean(false))) {
      log.warn(
          "{}: pre_tokenizer {} differs from GPT-2's ByteLevel rules, which this class applies;"
              + " encodings may differ from Hugging Face's",
          src,
          pre);
    }
  }
}
