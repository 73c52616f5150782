package org.rlhf4j.core.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.tokenizer.HfPipeline.Piece;

/**
 * A BPE tokenizer read from a Hugging Face {@code tokenizer.json}, giving the same ids as the Rust
 * {@code tokenizers} library: byte-level BPE as in Llama 3, Qwen2, SmolLM2 or GPT-2, and
 * SentencePiece-style BPE with byte fallback as in Llama 2 and Mistral.
 *
 * <p>Encoding follows {@code tokenizers}: added tokens are matched first (longest match at the
 * leftmost position, honouring {@code single_word}, {@code lstrip} and {@code rstrip}; tokens with
 * {@code normalized: true} are matched after normalization), the rest is normalized, pre-tokenized
 * and each piece is merged by the BPE model; {@link #encode(String, boolean)} can then add the
 * post-processor's special tokens (e.g. Llama 2's {@code <s>}).
 *
 * <p>Supported components (others are refused with an error naming the component type and the
 * file): model {@code BPE} ({@code byte_fallback}, {@code unk_token}, {@code fuse_unk}, {@code
 * ignore_merges}, merges as {@code "a b"} strings or {@code ["a", "b"]} pairs); normalizers {@code
 * Sequence}, {@code Prepend}, {@code Replace}, {@code NFC}/{@code NFD}/{@code NFKC}/{@code NFKD},
 * {@code Lowercase}, {@code Strip}; pre-tokenizers {@code Sequence}, {@code Split} (every {@code
 * behavior}, {@code invert}), {@code ByteLevel} ({@code add_prefix_space}, {@code use_regex}),
 * {@code Metaspace} ({@code prepend_scheme} or the older {@code add_prefix_space}, {@code split}),
 * {@code Digits}, {@code Whitespace}, {@code WhitespaceSplit}; post-processors {@code
 * TemplateProcessing} (single sequences), {@code ByteLevel} (no effect on ids), {@code
 * RobertaProcessing}, {@code BertProcessing}, {@code Sequence}; decoders {@code ByteLevel}, {@code
 * Metaspace}, {@code Replace}, {@code ByteFallback}, {@code Fuse}, {@code Strip}, {@code Sequence}.
 * {@code Split} regexes run on {@code java.util.regex} with Unicode character classes ({@code \s} is
 * Unicode White_Space, as in the {@code onig} engine that {@code tokenizers} uses), which reproduces
 * the Llama-3 / Qwen2 split regex.
 *
 * <p><b>Special tokens in text</b>: unlike {@link Gpt2BpeTokenizer#encode}, {@link #encode(String)}
 * maps the text of a special (added) token such as {@code <|im_start|>} in its input to that
 * token's id, as {@code tokenizers} and {@code transformers} do: chat templates rely on it. For
 * untrusted text use {@link #encode(String, boolean, SpecialTokens)} with {@link
 * SpecialTokens#AS_TEXT} (the {@code split_special_tokens=True} of {@code transformers}), which
 * encodes special-token text as ordinary text; non-special added tokens are always matched.
 *
 * <p>BOS, EOS and PAD come from {@code tokenizer_config.json} ({@code bos_token}, {@code
 * eos_token}, {@code pad_token}, strings or {@code AddedToken} objects) when {@link #fromDirectory}
 * finds one; otherwise BOS is the first special token the post-processor adds, else {@code <s>} or
 * {@code <|begin_of_text|>}, and EOS is {@code </s>}, {@code <|end_of_text|>}, {@code
 * <|endoftext|>} or {@code <|im_end|>}, whichever exists first; a missing BOS falls back to EOS
 * and PAD to EOS.
 *
 * <p>Merging uses {@link MergeTable}, which for merge lists where every merged token is built only
 * from earlier merges (all trained tokenizers) equals the Rust library's priority-queue order; a
 * pair listed twice keeps its last rank, as in the Rust library.
 * Immutable and thread-safe (the piece cache does not change results).
 */
public final class HfTokenizer implements Tokenizer {

  /** How text that spells a special token (e.g. {@code <|im_end|>}) is encoded. */
  public enum SpecialTokens {
    /** The text becomes the special token's id, as in Hugging Face {@code tokenizers} (default). */
    MATCH,
    /** The text is encoded as ordinary text ({@code split_special_tokens=True}). */
    AS_TEXT
  }

  /** One entry of {@code added_tokens}. */
  private record Added(
      int id,
      String content,
      boolean special,
      boolean singleWord,
      boolean lstrip,
      boolean rstrip,
      boolean normalized) {}

  private final String source;
  private final String[] tokens; // by id; null for an unused id
  private final boolean[] special;
  private final Map<String, Integer> vocab; // model vocabulary, without added tokens
  private final int[] bmpIds; // id of each single-BMP-char token, or -1
  private final Map<Integer, Integer> otherCharIds; // supplementary code point -> id
  private final MergeTable merges;
  private final boolean byteFallback;
  private final int[] byteFallbackIds; // id of <0xXX>, or -1
  private final int unkId;
  private final boolean fuseUnk;
  private final boolean ignoreMerges;
  private final HfPipeline.Normalizer normalizer;
  private final HfPipeline.PreTokenizer preTokenizer;
  // Fast path for the common "Split(regex, Isolated) [+ ByteLevel without prefix or regex]" (Llama 3,
  // Qwen2): pieces are cached by their original text, with no intermediate objects.
  private final Pattern fastSplit;
  private final boolean fastByteLevel;
  private final HfPipeline.Decoder decoder;
  private final int[] prefixIds; // added by the post-processor before the text
  private final int[] suffixIds; // ... and after it
  private final AddedMatcher rawAdded;
  private final AddedMatcher rawAddedNoSpecial;
  private final AddedMatcher normalizedAdded;
  private final AddedMatcher normalizedAddedNoSpecial;
  private final Map<String, Integer> addedIds;
  private final int bos;
  private final int eos;
  private final int pad;
  private final PieceCache cache = new PieceCache();
  private final byte[] tokenizerJson; // the tokenizer.json bytes, written back by Tokenizers.save
  private final JsonNode configJson; // tokenizer_config.json as read (a private copy), or null
  private final String chatTemplate; // the Jinja chat template, or null

  private HfTokenizer(JsonNode root, byte[] rawJson, String src, Optional<JsonNode> config, String chatTemplate) {
    this.source = src;
    this.tokenizerJson = rawJson;
    this.configJson = config.isPresent() ? config.get().deepCopy() : null;
    this.chatTemplate = chatTemplate;
    JsonNode model = root.path("model");
    if (!model.isObject()) {
      throw new DataFormatException(src, 1, "expected a JSON object with a \"model\" object");
    }
    String type = model.path("type").asText("BPE");
    if (!type.equals("BPE")) {
      throw new DataFormatException(
          src,
          1,
          "model: unsupported model type \""
              + type
              + "\" (HfTokenizer reads BPE models only; WordPiece, Unigram and WordLevel are not"
              + " supported)");
    }
    for (String opt : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
      JsonNode v = model.path(opt);
      if (!v.isMissingNode() && !v.isNull() && !(v.isTextual() && v.textValue().isEmpty())) {
        throw new DataFormatException(
            src, 1, "model." + opt + " = " + v + " is not supported by HfTokenizer");
      }
    }
    JsonNode dropout = model.path("dropout");
    if (!dropout.isMissingNode() && !dropout.isNull() && dropout.asDouble() != 0) {
      throw new DataFormatException(
          src, 1, "model.dropout = " + dropout + " is not supported (BPE dropout is random)");
    }
    // vocabulary
    Map<Integer, String> byId = new HashMap<>();
    Map<String, Integer> v = HfTokenizerJson.readVocab(src, model.path("vocab"), byId);
    this.vocab = v;
    // added tokens
    List<Added> added = new ArrayList<>();
    JsonNode addedNode = root.path("added_tokens");
    Map<String, Integer> addedMap = new LinkedHashMap<>();
    for (int i = 0; i < addedNode.size(); i++) {
      JsonNode a = addedNode.get(i);
      String where = "added_tokens[" + i + "]";
      if (!a.path("content").isTextual()
          || a.get("content").textValue().isEmpty()
          || !a.path("id").isInt()
          || a.get("id").intValue() < 0) {
        throw new DataFormatException(
            src,
            i + 1,
            where + ": expected {\"id\": non-negative int, \"content\": non-empty string}, got " + a);
      }
      Added t =
          new Added(
              a.get("id").intValue(),
              a.get("content").textValue(),
              a.path("special").asBoolean(false),
              a.path("single_word").asBoolean(false),
              a.path("lstrip").asBoolean(false),
              a.path("rstrip").asBoolean(false),
              a.path("normalized").asBoolean(!a.path("special").asBoolean(false)));
      String other = byId.get(t.id());
      if (other != null && !other.equals(t.content())) {
        throw new DataFormatException(
            src,
            i + 1,
            where
                + ": id "
                + t.id()
                + " of token "
                + BpeVocabulary.quote(t.content())
                + " is already used by token "
                + BpeVocabulary.quote(other));
      }
      byId.put(t.id(), t.content());
      added.add(t);
      addedMap.put(t.content(), t.id());
    }
    this.addedIds = addedMap;
    int size = 0;
    for (int id : byId.keySet()) {
      size = Math.max(size, id + 1);
    }
    this.tokens = new String[size];
    this.special = new boolean[size];
    for (Map.Entry<Integer, String> e : byId.entrySet()) {
      tokens[e.getKey()] = e.getValue();
    }
    for (Added a : added) {
      special[a.id()] = a.special();
    }
    // single characters
    this.bmpIds = new int[1 << 16];
    Arrays.fill(bmpIds, -1);
    this.otherCharIds = new HashMap<>();
    for (Map.Entry<String, Integer> e : v.entrySet()) {
      String t = e.getKey();
      if (t.length() == 1) {
        bmpIds[t.charAt(0)] = e.getValue();
      } else if (t.length() == 2 && Character.isSurrogatePair(t.charAt(0), t.charAt(1))) {
        otherCharIds.put(t.codePointAt(0), e.getValue());
      }
    }
    // options
    this.byteFallback = model.path("byte_fallback").asBoolean(false);
    this.byteFallbackIds = new int[256];
    for (int b = 0; b < 256; b++) {
      Integer id = v.get(String.format("<0x%02X>", b));
      byteFallbackIds[b] = id == null ? -1 : id;
    }
    this.fuseUnk = model.path("fuse_unk").asBoolean(false);
    this.ignoreMerges = model.path("ignore_merges").asBoolean(false);
    JsonNode unk = model.path("unk_token");
    if (unk.isTextual()) {
      Integer id = v.get(unk.textValue());
      if (id == null) {
        throw new DataFormatException(
            src, 1, "model.unk_token " + BpeVocabulary.quote(unk.textValue()) + " is not in model.vocab");
      }
      this.unkId = id;
    } else {
      this.unkId = -1;
    }
    this.merges = readMerges(model.path("merges"), v, src);
    // pipeline
    this.normalizer = HfPipeline.normalizer(root.path("normalizer"), src, "normalizer");
    this.preTokenizer = HfPipeline.preTokenizer(root.path("pre_tokenizer"), src, "pre_tokenizer");
    JsonNode pre = root.path("pre_tokenizer");
    JsonNode split = null;
    boolean byteLevel = false;
    if (pre.path("type").asText().equals("Split")) {
      split = pre;
    } else if (pre.path("type").asText().equals("Sequence")
        && pre.path("pretokenizers").size() == 2
        && pre.get("pretokenizers").get(0).path("type").asText().equals("Split")
        && pre.get("pretokenizers").get(1).path("type").asText().equals("ByteLevel")
        && !pre.get("pretokenizers").get(1).path("add_prefix_space").asBoolean(true)
        && !pre.get("pretokenizers").get(1).path("use_regex").asBoolean(true)) {
      split = pre.get("pretokenizers").get(0);
      byteLevel = true;
    }
    if (split != null
        && split.path("behavior").asText().equals("Isolated")
        && !split.path("invert").asBoolean(false)) {
      this.fastSplit = HfPipeline.pattern(split.path("pattern"), src, "pre_tokenizer");
      this.fastByteLevel = byteLevel;
    } else {
      this.fastSplit = null;
      this.fastByteLevel = false;
    }
    this.decoder = HfPipeline.decoder(root.path("decoder"), src, "decoder");
    List<Integer> prefix = new ArrayList<>();
    List<Integer> suffix = new ArrayList<>();
    postProcessor(root.path("post_processor"), "post_processor", prefix, suffix);
    this.prefixIds = prefix.stream().mapToInt(Integer::intValue).toArray();
    this.suffixIds = suffix.stream().mapToInt(Integer::intValue).toArray();
    List<Added> raw = added.stream().filter(a -> !a.normalized()).toList();
    List<Added> norm = new ArrayList<>();
    for (Added a : added) {
      if (a.normalized()) {
        String c = normalizer == null ? a.content() : normalizer.normalize(a.content());
        norm.add(new Added(a.id(), c, a.special(), a.singleWord(), a.lstrip(), a.rstrip(), true));
      }
    }
    this.rawAdded = AddedMatcher.of(raw);
    this.rawAddedNoSpecial = AddedMatcher.of(raw.stream().filter(a -> !a.special()).toList());
    this.normalizedAdded = AddedMatcher.of(norm);
    this.normalizedAddedNoSpecial =
        AddedMatcher.of(norm.stream().filter(a -> !a.special()).toList());
    // BOS / EOS / PAD
    Integer eosId = configToken(config, "eos_token");
    if (eosId == null) {
      eosId = firstPresent("</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>");
    }
    if (eosId == null) {
      throw new RlhfException(
          src
              + ": cannot tell the end-of-sequence token: no eos_token in tokenizer_config.json and"
              + " none of </s>, <|end_of_text|>, <|endoftext|>, <|im_end|>, <|eot_id|> exists");
    }
    this.eos = eosId;
    Integer bosId = configToken(config, "bos_token");
    if (bosId == null && prefixIds.length > 0 && config.isEmpty()) {
      bosId = prefixIds[0];
    }
    if (bosId == null && config.isEmpty()) {
      bosId = firstPresent("<s>", "<|begin_of_text|>");
    }
    this.bos = bosId == null ? eos : bosId;
    Integer padId = configToken(config, "pad_token");
    this.pad = padId == null ? eos : padId;
  }

  private Integer firstPresent(String... names) {
    for (String n : names) {
      Integer id = addedIds.containsKey(n) ? addedIds.get(n) : vocab.get(n);
      if (id != null) {
        return id;
      }
    }
    return null;
  }

  /** The id of a {@code tokenizer_config.json} token field (string or AddedToken object). */
  private Integer configToken(Optional<JsonNode> config, String field) {
    if (config.isEmpty()) {
      return null;
    }
    String name = tokenText(config.get().path(field));
    if (name == null) {
      return null;
    }
    Integer id = addedIds.containsKey(name) ? addedIds.get(name) : vocab.get(name);
    if (id == null) {
      throw new DataFormatException(
          source,
          1,
          "tokenizer_config.json " + field + " " + BpeVocabulary.quote(name) + " is not a token of " + source);
    }
    return id;
  }

  /** The text of a token given as a string or an {@code AddedToken} object; null if absent. */
  static String tokenText(JsonNode n) {
    if (n.isTextual()) {
      return n.textValue();
    }
    if (n.isObject() && n.path("content").isTextual()) {
      return n.get("content").textValue();
    }
    return null;
  }

  private MergeTable readMerges(JsonNode node, Map<String, Integer> v, String src) {
    if (node.isMissingNode() || node.isNull()) {
      return new MergeTable(new int[0], new int[0], new int[0]);
    }
    if (!node.isArray()) {
      throw new DataFormatException(src, 1, "model.merges must be an array, got " + node.getNodeType());
    }
    int n = node.size();
    int[] lefts = new int[n];
    int[] rights = new int[n];
    int[] results = new int[n];
    long[] keys = new long[n];
    for (int i = 0; i < n; i++) {
      JsonNode m = node.get(i);
      String where = "model.merges[" + i + "]";
      String left;
      String right;
      if (m.isTextual()) {
        String s = m.textValue();
        int space = s.indexOf(' ');
        if (space <= 0 || space == s.length() - 1 || s.indexOf(' ', space + 1) >= 0) {
          throw new DataFormatException(
              src, i + 1, where + ": expected two tokens separated by one space, got " + BpeVocabulary.quote(s));
        }
        left = s.substring(0, space);
        right = s.substring(space + 1);
      } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
        left = m.get(0).textValue();
        right = m.get(1).textValue();
      } else {
        throw new DataFormatException(
            src, i + 1, where + ": expected \"left right\" or [\"left\", \"right\"], got " + m);
      }
      Integer l = v.get(left);
      Integer r = v.get(right);
      Integer res = v.get(left + right);
      if (l == null || r == null || res == null) {
        String missing = l == null ? left : r == null ? right : left + right;
        throw new DataFormatException(
            src, i + 1, where + ": token " + BpeVocabulary.quote(missing) + " is not in model.vocab");
      }
      lefts[i] = l;
      rights[i] = r;
      results[i] = res;
      keys[i] = ((long) l << 32) | (r & 0xFFFFFFFFL);
    }
    // A pair listed twice keeps its last rank, as in the Rust library (whose merge map is built by
    // inserting the merges in order).
    Map<Long, Integer> last = new HashMap<>(n * 2);
    for (int i = 0; i < n; i++) {
      last.put(keys[i], i);
    }
    int count = 0;
    for (int i = 0; i < n; i++) {
      if (last.get(keys[i]) == i) {
        lefts[count] = lefts[i];
        rights[count] = rights[i];
        results[count] = results[i];
        count++;
      }
    }
    return new MergeTable(
        Arrays.copyOf(lefts, count), Arrays.copyOf(rights, count), Arrays.copyOf(results, count));
  }

  private void postProcessor(JsonNode n, String where, List<Integer> prefix, List<Integer> suffix) {
    if (n == null || n.isNull() || n.isMissingNode()) {
      return;
    }
    String type = n.path("type").asText("");
    switch (type) {
      case "Sequence":
        {
          JsonNode list = n.path("processors");
          for (int i = 0; i < list.size(); i++) {
            postProcessor(list.get(i), where + ".processors[" + i + "]", prefix, suffix);
          }
          return;
        }
      case "ByteLevel":
        return; // offsets only
      case "TemplateProcessing":
        {
          JsonNode single = n.path("single");
          JsonNode specials = n.path("special_tokens");
          boolean seenSequence = false;
          for (int i = 0; i < single.size(); i++) {
            JsonNode item = single.get(i);
            if (item.has("Sequence")) {
              if (seenSequence || !item.get("Sequence").path("id").asText("A").equals("A")) {
                throw new DataFormatException(
                    source, 1, where + ".single[" + i + "]: expected one sequence $A, got " + item);
              }
              seenSequence = true;
            } else if (item.has("SpecialToken")) {
              String name = item.get("SpecialToken").path("id").asText("");
              JsonNode entry = specials.path(name);
              JsonNode ids = entry.path("ids");
              if (!ids.isArray() || ids.isEmpty()) {
                throw new DataFormatException(
                    source,
                    1,
                    where + ".special_tokens: no ids for special token " + BpeVocabulary.quote(name));
              }
              for (JsonNode id : ids) {
                checkKnownId(id.asInt(-1), where + ".special_tokens." + name);
                (seenSequence ? suffix : prefix).add(id.asInt());
              }
            } else {
              throw new DataFormatException(
                  source, 1, where + ".single[" + i + "]: unknown template item " + item);
            }
          }
          return;
        }
      case "RobertaProcessing":
      case "BertProcessing":
        {
          JsonNode cls = n.path("cls");
          JsonNode sep = n.path("sep");
          if (!cls.isArray() || cls.size() != 2 || !sep.isArray() || sep.size() != 2) {
            throw new DataFormatException(
                source, 1, where + ": expected \"cls\" and \"sep\" as [token, id]");
          }
          checkKnownId(cls.get(1).asInt(-1), where + ".cls");
          checkKnownId(sep.get(1).asInt(-1), where + ".sep");
          prefix.add(cls.get(1).asInt());
          suffix.add(0, sep.get(1).asInt());
          return;
        }
      default:
        throw HfPipeline.unsupported("post_processor", type, source, where);
    }
  }

  private void checkKnownId(int id, String where) {
    if (id < 0 || id >= tokens.length || tokens[id] == null) {
      throw new DataFormatException(source, 1, where + ": id " + id + " is not a token");
    }
  }

  // ------------------------------------------------------------------ loading

  /**
   * The tokenizer of a {@code tokenizer.json} file (BOS/EOS/PAD guessed as described in the class
   * documentation; use {@link #fromDirectory} to read them from {@code tokenizer_config.json}).
   *
   * @throws RlhfException if the file is missing or unreadable, or (as DataFormatException) it is
   *     malformed or uses an unsupported component
   */
  public static HfTokenizer fromFile(Path tokenizerJson) {
    Preconditions.checkNotNull(tokenizerJson, "tokenizerJson");
    byte[] raw = readBytes(tokenizerJson);
    return new HfTokenizer(parseJson(raw, tokenizerJson.toString()), raw, tokenizerJson.toString(), Optional.empty(), null);
  }

  /**
   * The tokenizer of a model directory: its {@code tokenizer.json}, with BOS/EOS/PAD from its
   * {@code tokenizer_config.json} if there is one, and the chat template of {@code
   * chat_template.jinja} or of that file's {@code chat_template} field (a string, or the entry
   * named {@code default} of a list), if any ({@link #chatTemplate()}).
   *
   * @throws RlhfException if {@code tokenizer.json} is missing or unreadable, or (as
   *     DataFormatException) a file is malformed
   */
  public static HfTokenizer fromDirectory(Path dir) {
    Preconditions.checkNotNull(dir, "dir");
    Path file = dir.resolve("tokenizer.json");
    if (!Files.isRegularFile(file)) {
      throw new RlhfException("no tokenizer.json in " + dir);
    }
    Path configFile = dir.resolve("tokenizer_config.json");
    Optional<JsonNode> config =
        Files.isRegularFile(configFile) ? Optional.of(readJson(configFile)) : Optional.empty();
    String template = null;
    Path jinja = dir.resolve(CHAT_TEMPLATE_FILE);
    if (Files.isRegularFile(jinja)) {
      try {
        template = Files.readString(jinja, java.nio.charset.StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw BpeFiles.unreadable("chat template", jinja, e);
      }
    } else if (config.isPresent()) {
      JsonNode t = config.get().path("chat_template");
      if (t.isTextual()) {
        template = t.textValue();
      } else if (t.isArray()) {
        for (JsonNode named : t) {
          if ("default".equals(named.path("name").asText()) && named.path("template").isTextual()) {
            template = named.get("template").textValue();
          }
        }
      }
    }
    byte[] raw = readBytes(file);
    return new HfTokenizer(parseJson(raw, file.toString()), raw, file.toString(), config, template);
  }

  /** The file name of a chat template saved beside {@code tokenizer_config.json} (transformers 5). */
  public static final String CHAT_TEMPLATE_FILE = "chat_template.jinja";

  /** The tokenizer of an already parsed {@code tokenizer.json}; {@code source} names it in errors. */
  static HfTokenizer fromJson(JsonNode root, String source) {
    byte[] raw;
    try {
      raw = BpeFiles.JSON.writeValueAsBytes(root);
    } catch (JsonProcessingException e) {
      throw new RlhfException(source + ": cannot serialise the tokenizer: " + e.getOriginalMessage(), e);
    }
    return new HfTokenizer(root, raw, source, Optional.empty(), null);
  }

  /**
   * This tokenizer with {@code template} (Jinja source) as its chat template, e.g. ChatML for a
   * base model that has none: {@link Tokenizers#save} writes it into {@code
   * tokenizer_config.json}'s {@code chat_template}, where {@code transformers} reads it.
   */
  public HfTokenizer withChatTemplate(String template) {
    Preconditions.checkNotNull(template, "template");
    Preconditions.checkArgument(!template.isBlank(), "the chat template is blank");
    return new HfTokenizer(parseJson(tokenizerJson, source), tokenizerJson, source, Optional.ofNullable(configJson), template);
  }

  /** The Jinja chat template that came with this tokenizer (see {@link #fromDirectory}), if any. */
  public Optional<String> chatTemplate() {
    return Optional.ofNullable(chatTemplate);
  }

  /** The bytes of the {@code tokenizer.json} this tokenizer was read from (a copy). */
  public byte[] tokenizerJsonBytes() {
    return tokenizerJson.clone();
  }

  /** A copy of the {@code tokenizer_config.json} this tokenizer was read with, if any. */
  public Optional<JsonNode> tokenizerConfig() {
    return configJson == null ? Optional.empty() : Optional.of(configJson.deepCopy());
  }

  private static byte[] readBytes(Path file) {
    try {
      return Files.readAllBytes(file);
    } catch (IOException e) {
      throw BpeFiles.unreadable(file.getFileName().toString(), file, e);
    }
  }

  private static JsonNode parseJson(byte[] raw, String src) {
    JsonNode root;
    try {
      root = BpeFiles.JSON.readTree(raw);
    } catch (JsonProcessingException e) {
      throw BpeFiles.invalidJson(src, e);
    } catch (IOException e) {
      throw new RlhfException("cannot parse " + src + ": " + e, e);
    }
    if (root == null || !root.isObject()) {
      throw new DataFormatException(src, 1, "expected a JSON object");
    }
    return root;
  }

  static JsonNode readJson(Path file) {
    JsonNode root;
    try {
      root = BpeFiles.JSON.readTree(file.toFile());
    } catch (JsonProcessingException e) {
      throw BpeFiles.invalidJson(file.toString(), e);
    } catch (IOException e) {
      throw BpeFiles.unreadable(file.getFileName().toString(), file, e);
    }
    if (root == null || !root.isObject()) {
      throw new DataFormatException(file.toString(), 1, "expected a JSON object");
    }
    return root;
  }

  // ------------------------------------------------------------------ encoding

  /**
   * {@inheritDoc} No special tokens are added; special-token text in {@code text} IS mapped to the
   * special ids (see the class documentation), as {@code tokenizers} does.
   */
  @Override
  public int[] encode(String text) {
    return encode(text, false, SpecialTokens.MATCH);
  }

  /**
   * The ids of {@code text}, with the post-processor's special tokens (e.g. BOS {@code <s>}) when
   * {@code addSpecialTokens}: {@code tokenizer.encode(text, add_special_tokens=...)}.
   */
  public int[] encode(String text, boolean addSpecialTokens) {
    return encode(text, addSpecialTokens, SpecialTokens.MATCH);
  }

  /**
   * The ids of {@code text}.
   *
   * @param addSpecialTokens add the post-processor's special tokens
   * @param specials whether special-token text in {@code text} becomes special ids ({@link
   *     SpecialTokens#MATCH}) or is encoded as ordinary text ({@link SpecialTokens#AS_TEXT})
   */
  public int[] encode(String text, boolean addSpecialTokens, SpecialTokens specials) {
    Preconditions.checkNotNull(text, "text");
    Preconditions.checkNotNull(specials, "specials");
    IntBuffer out = new IntBuffer(text.length() / 3 + 4);
    if (addSpecialTokens) {
      out.addAll(prefixIds, 0, prefixIds.length);
    }
    boolean match = specials == SpecialTokens.MATCH;
    AddedMatcher raw = match ? rawAdded : rawAddedNoSpecial;
    AddedMatcher norm = match ? normalizedAdded : normalizedAddedNoSpecial;
    raw.split(
        text,
        out,
        (segment, atStart) -> {
          String s = normalizer == null ? segment : normalizer.normalize(segment);
          norm.split(s, out, (part, first) -> encodePieces(part, atStart && first, out));
        });
    if (addSpecialTokens) {
      out.addAll(suffixIds, 0, suffixIds.length);
    }
    return out.toArray();
  }

  /** Pre-tokenizes {@code s} and appends the BPE ids of each piece. */
  private void encodePieces(String s, boolean atStart, IntBuffer out) {
    if (s.isEmpty()) {
      return;
    }
    if (preTokenizer == null) {
      encodeWord(s, out);
      return;
    }
    if (fastSplit != null) {
      Matcher m = fastSplit.matcher(s);
      int prev = 0;
      while (m.find()) {
        if (m.start() > prev) {
          encodeFast(s, prev, m.start(), out);
        }
        if (m.end() > m.start()) {
          encodeFast(s, m.start(), m.end(), out);
        }
        prev = m.end();
      }
      if (prev < s.length()) {
        encodeFast(s, prev, s.length(), out);
      }
      return;
    }
    List<Piece> pieces = new ArrayList<>();
    preTokenizer.apply(new Piece(s, atStart), pieces);
    for (Piece p : pieces) {
      encodeWord(p.text(), out);
    }
  }

  /** One piece {@code s[start, end)} of the fast path, cached by its original text. */
  private void encodeFast(String s, int start, int end, IntBuffer out) {
    int hash = PieceCache.hash(s, start, end);
    if (cache.appendIfPresent(s, start, end, hash, out)) {
      return;
    }
    String piece = s.substring(start, end);
    int[] ids = bpe(fastByteLevel ? ByteLevel.spell(Utf8.encode(piece)) : piece);
    cache.put(piece, hash, ids);
    out.addAll(ids, 0, ids.length);
  }

  private void encodeWord(String w, IntBuffer out) {
    if (w.isEmpty()) {
      return;
    }
    int hash = PieceCache.hash(w, 0, w.length());
    if (cache.appendIfPresent(w, 0, w.length(), hash, out)) {
      return;
    }
    int[] ids = bpe(w);
    cache.put(w, hash, ids);
    out.addAll(ids, 0, ids.length);
  }

  /** The ids of one word: {@code BPE::merge_word} of the Rust library. */
  int[] bpe(String w) {
    if (ignoreMerges) {
      Integer id = vocab.get(w);
      if (id != null) {
        return new int[] {id};
      }
    }
    IntBuffer symbols = new IntBuffer(w.length());
    int pendingUnk = -1; // an unknown run not yet emitted (fuse_unk)
    for (int i = 0; i < w.length(); ) {
      int cp = w.codePointAt(i);
      int n = Character.charCount(cp);
      int id = cp < 0x10000 ? bmpIds[cp] : otherCharIds.getOrDefault(cp, -1);
      if (id < 0 && n == 1 && Character.isSurrogate((char) cp)) {
        id = -1; // a lone surrogate: written as U+FFFD below
      }
      if (id >= 0) {
        if (pendingUnk >= 0) {
          symbols.add(pendingUnk);
          pendingUnk = -1;
        }
        symbols.add(id);
      } else {
        boolean done = false;
        if (byteFallback) {
          byte[] bytes = Utf8.encode(w, i, i + n);
          boolean all = true;
          for (byte b : bytes) {
            all &= byteFallbackIds[b & 0xFF] >= 0;
          }
          if (all) {
            for (byte b : bytes) {
              symbols.add(byteFallbackIds[b & 0xFF]);
            }
            done = true;
          }
        }
        if (!done && unkId >= 0) {
          if (pendingUnk >= 0 && !fuseUnk) {
            symbols.add(pendingUnk);
          }
          pendingUnk = unkId;
        }
        // without unk_token an unknown character is dropped, as in the Rust library
      }
      i += n;
    }
    if (pendingUnk >= 0) {
      symbols.add(pendingUnk);
    }
    return merges.apply(symbols.toArray());
  }

  // ------------------------------------------------------------------ decoding

  /**
   * {@inheritDoc} Decodes as {@code tokenizers} does, through the file's decoder (for example
   * Llama 2's strips the leading space that encoding added).
   */
  @Override
  public String decode(int[] ids, boolean skipSpecialTokens) {
    Preconditions.checkNotNull(ids, "ids");
    List<String> parts = new ArrayList<>(ids.length);
    for (int id : ids) {
      Preconditions.checkArgument(
          id >= 0 && id < tokens.length && tokens[id] != null,
          "token id %s is not a token of %s (vocabulary size %s)",
          id,
          source,
          tokens.length);
      if (!(skipSpecialTokens && special[id])) {
        parts.add(tokens[id]);
      }
    }
    if (decoder == null) {
      return String.join(" ", parts);
    }
    return String.join("", decoder.decodeChain(parts));
  }

  // ------------------------------------------------------------------ accessors

  /** {@inheritDoc} One more than the largest id of the vocabulary and the added tokens. */
  @Override
  public int vocabSize() {
    return tokens.length;
  }

  @Override
  public int bosId() {
    return bos;
  }

  @Override
  public int eosId() {
    return eos;
  }

  @Override
  public int padId() {
    return pad;
  }

  /**
   * {@inheritDoc} The added tokens marked {@code "special": true}.
   *
   * @throws IllegalArgumentException if {@code id} is outside {@code [0, vocabSize())}
   */
  @Override
  public boolean isSpecial(int id) {
    Preconditions.checkArgument(
        id >= 0 && id < tokens.length, "token id %s is outside [0, %s)", id, tokens.length);
    return special[id];
  }

  /** The token of {@code id} as the file spells it (e.g. {@code Ġthe}, {@code ▁the}, {@code <s>}). */
  public String token(int id) {
    Preconditions.checkArgument(
        id >= 0 && id < tokens.length && tokens[id] != null,
        "token id %s is not a token (vocabulary size %s)",
        id,
        tokens.length);
    return tokens[id];
  }

  /** The id of a token spelled as in the file, if there is one. */
  public Optional<Integer> tokenId(String token) {
    Integer id = addedIds.get(token);
    return Optional.ofNullable(id != null ? id : vocab.get(token));
  }

  /** The added tokens (content to id), in file order. */
  public ImmutableMap<String, Integer> addedTokens() {
    return ImmutableMap.copyOf(addedIds);
  }

  /** The ids the post-processor puts before the text when special tokens are added. */
  public ImmutableList<Integer> prefixTokens() {
    return ImmutableList.copyOf(Arrays.stream(prefixIds).boxed().toList());
  }

  /** The ids the post-processor puts after the text when special tokens are added. */
  public ImmutableList<Integer> suffixTokens() {
    return ImmutableList.copyOf(Arrays.stream(suffixIds).boxed().toList());
  }

  /** {@inheritDoc} {@code hf-bpe(1024)}. */
  @Override
  public String describe() {
    return "hf-bpe(" + vocabSize() + ")";
  }

  @Override
  public String toString() {
    return describe() + " from " + source;
  }

  // ------------------------------------------------------------------ added tokens

  /** Receives the text between added tokens. */
  private interface SegmentSink {
    void accept(String segment, boolean atStart);
  }

  /**
   * Finds added tokens in text: at each position the longest token wins (aho-corasick's
   * leftmost-longest, as in the Rust library), subject to {@code single_word}; {@code lstrip} and
   * {@code rstrip} absorb neighbouring whitespace into the token.
   */
  private static final class AddedMatcher {
    private final Map<Character, List<Added>> byFirst; // candidates, longest first
    private final boolean[] isFirst = new boolean[1 << 16];

    private AddedMatcher(Map<Character, List<Added>> byFirst) {
      this.byFirst = byFirst;
      for (char c : byFirst.keySet()) {
        isFirst[c] = true;
      }
    }

    static AddedMatcher of(List<Added> added) {
      Map<Character, List<Added>> m = new HashMap<>();
      for (Added a : added) {
        m.computeIfAbsent(a.content().charAt(0), k -> new ArrayList<>()).add(a);
      }
      for (List<Added> l : m.values()) {
        l.sort((x, y) -> Integer.compare(y.content().length(), x.content().length()));
      }
      return new AddedMatcher(m);
    }

    void split(String s, IntBuffer out, SegmentSink sink) {
      if (byFirst.isEmpty()) {
        sink.accept(s, true);
        return;
      }
      int segStart = 0; // start of the pending text segment
      int i = 0;
      while (i < s.length()) {
        if (!isFirst[s.charAt(i)]) {
          i++;
          continue;
        }
        List<Added> cands = byFirst.get(s.charAt(i));
        Added hit = null;
        if (cands != null) {
          for (Added a : cands) {
            String c = a.content();
            if (s.startsWith(c, i) && (!a.singleWord() || isWordBoundary(s, i, i + c.length()))) {
              hit = a;
              break;
            }
          }
        }
        if (hit == null) {
          i++;
          continue;
        }
        int start = i;
        int end = i + hit.content().length();
        if (hit.lstrip()) {
          while (start > segStart && Character.isWhitespace(s.charAt(start - 1))) {
            start--;
          }
        }
        if (hit.rstrip()) {
          while (end < s.length() && Character.isWhitespace(s.charAt(end))) {
            end++;
          }
        }
        if (start > segStart) {
          sink.accept(s.substring(segStart, start), segStart == 0);
        }
        out.add(hit.id());
        segStart = end;
        i = end;
      }
      if (segStart < s.length()) {
        sink.accept(s.substring(segStart), segStart == 0);
      }
    }

    private static boolean isWordBoundary(String s, int start, int end) {
      boolean before = start == 0 || !isWordChar(s.codePointBefore(start));
      boolean after = end == s.length() || !isWordChar(s.codePointAt(end));
      return before && after;
    }

    private static boolean isWordChar(int cp) {
      return Character.isLetterOrDigit(cp) || cp == '_';
    }
  }
}
