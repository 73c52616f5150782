package org.rlhf4j.core.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.rlhf4j.core.fs.AtomicFiles;
import com.google.common.base.Preconditions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;

/**
 * Saves a tokenizer into a directory (a checkpoint's) and loads it back.
 *
 * <p>{@link #save} writes rlhf4j's own metadata to {@value #METADATA_FILE}, a JSON object whose
 * {@code "type"} is {@code "byte"} or {@code "gpt2-bpe"}. For BPE it also writes {@code vocab.json}
 * and {@code merges.txt} in the standard Hugging Face format, the same model as a Hugging Face
 * {@code tokenizer.json} (which the {@code tokenizers} library reads), and a Hugging Face {@value
 * #HF_CONFIG_FILE} holding only the fields transformers' {@code GPT2Tokenizer} reads ({@code
 * tokenizer_class}, {@code bos_token}, ...), so {@code transformers.AutoTokenizer.from_pretrained(dir)}
 * works on the directory and transformers' {@code save_pretrained} (which keeps unknown keys of
 * that file) carries none of rlhf4j's keys along. Every file is written atomically, the metadata
 * last, so a directory with our metadata always has complete files.
 *
 * <p>An {@link HfTokenizer} (Llama, Qwen2, Mistral, SmolLM2, ...) is saved as {@code "type":
 * "hf-tokenizer"}: its {@code tokenizer.json} byte for byte, and a {@value #HF_CONFIG_FILE} that is
 * the one it was read with (else a new one with {@code tokenizer_class}, {@code bos_token}, {@code
 * eos_token} and {@code pad_token}, the tokens it uses) holding its chat template as {@code
 * chat_template}, so that loading the directory gives the same ids, special tokens and template,
 * and {@code transformers.AutoTokenizer.from_pretrained(dir)} reads it too.
 *
 * <p>{@link #load} reads, in order: {@value #METADATA_FILE}; the layout of rlhf4j before 0.2 (our
 * {@code "type"} inside {@value #HF_CONFIG_FILE}); else the Hugging Face / OpenAI files with {@link
 * Gpt2BpeTokenizer#fromDirectory} ({@code vocab.json} + {@code merges.txt}, {@code encoder.json} +
 * {@code vocab.bpe}, or only {@code tokenizer.json}, as transformers' {@code save_pretrained}
 * writes). Where our metadata names {@code vocab.json}/{@code merges.txt} that are gone but a
 * {@code tokenizer.json} is there (a directory re-saved by transformers), the latter is read.
 */
public final class Tokenizers {
  /** The name of the file that {@link #save} writes rlhf4j's tokenizer metadata to. */
  public static final String METADATA_FILE = "rlhf4j_tokenizer.json";

  /**
   * Hugging Face's tokenizer config. rlhf4j before 0.2 wrote its metadata here; it is still read.
   */
  public static final String HF_CONFIG_FILE = "tokenizer_config.json";

  /** The old name of {@link #HF_CONFIG_FILE}. */
  @Deprecated public static final String CONFIG_FILE = HF_CONFIG_FILE;

  /** The version of the metadata format that {@link #save} writes. */
  public static final int FORMAT_VERSION = 2;

  private static final String VOCAB_FILE = "vocab.json";
  private static final String MERGES_FILE = "merges.txt";

  private Tokenizers() {}

  /** The {@code "type"} of a saved {@link HfTokenizer}. */
  public static final String HF_TOKENIZER_TYPE = "hf-tokenizer";

  /**
   * Whether {@link #save} can write {@code tokenizer} (the byte-level, GPT-2 and {@code
   * tokenizer.json} tokenizers).
   */
  public static boolean canSave(Tokenizer tokenizer) {
    return tokenizer instanceof ByteTokenizer
        || tokenizer instanceof Gpt2BpeTokenizer
        || tokenizer instanceof HfTokenizer;
  }

  /**
   * Writes {@code tokenizer} into {@code dir} (created if needed).
   *
   * @throws IllegalArgumentException if it is neither a {@link ByteTokenizer} nor a {@link
   *     Gpt2BpeTokenizer}
   * @throws RlhfException if a file cannot be written
   */
  public static void save(Tokenizer tokenizer, Path dir) {
    Preconditions.checkNotNull(tokenizer, "tokenizer");
    Preconditions.checkNotNull(dir, "dir");
    Preconditions.checkArgument(
        canSave(tokenizer),
        "cannot save tokenizer %s (%s): only ByteTokenizer, Gpt2BpeTokenizer and HfTokenizer can be saved",
        tokenizer.describe(),
        tokenizer.getClass().getName());
    ObjectNode config = BpeFiles.JSON.createObjectNode();
    try {
      Files.createDirectories(dir);
      if (tokenizer instanceof ByteTokenizer) {
        config.put("type", "byte");
      } else if (tokenizer instanceof HfTokenizer hft) {
        AtomicFiles.writeBytes(dir.resolve(HfTokenizerJson.FILE), hft.tokenizerJsonBytes());
        AtomicFiles.writeBytes(
            dir.resolve(HF_CONFIG_FILE),
            BpeFiles.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(hfConfig(hft)));
        // the template now lives in tokenizer_config.json; a stale .jinja file would take precedence
        Files.deleteIfExists(dir.resolve(HfTokenizer.CHAT_TEMPLATE_FILE));
        config.put("type", HF_TOKENIZER_TYPE);
        config.put("tokenizer_file", HfTokenizerJson.FILE);
      } else {
        Gpt2BpeTokenizer bpe = (Gpt2BpeTokenizer) tokenizer;
        AtomicFiles.writeBytes(
            dir.resolve(VOCAB_FILE), BpeFiles.vocabJson(bpe.vocabulary().keySet().asList()));
        AtomicFiles.writeBytes(dir.resolve(MERGES_FILE), BpeFiles.mergesTxt(bpe.merges()));
        AtomicFiles.writeBytes(dir.resolve(HfTokenizerJson.FILE), HfTokenizerJson.write(bpe));
        config.put("type", "gpt2-bpe");
        config.put("vocab_file", VOCAB_FILE);
        config.put("merges_file", MERGES_FILE);
        // Read by Hugging Face transformers; only its own keys.
        ObjectNode hf = BpeFiles.JSON.createObjectNode();
        String eot = Gpt2BpeTokenizer.END_OF_TEXT;
        hf.put("tokenizer_class", "GPT2Tokenizer");
        hf.put("bos_token", eot);
        hf.put("eos_token", eot);
        hf.put("unk_token", eot);
        hf.put("add_prefix_space", false);
        AtomicFiles.writeBytes(
            dir.resolve(HF_CONFIG_FILE),
            BpeFiles.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(hf));
      }
      config.put("format_version", FORMAT_VERSION);
      config.put("vocab_size", tokenizer.vocabSize());
      AtomicFiles.writeBytes(
          dir.resolve(METADATA_FILE),
          BpeFiles.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config));
    } catch (IOException e) {
      throw new RlhfException(
          "cannot save tokenizer " + tokenizer.describe() + " to " + dir + ": " + e, e);
    }
  }

  /**
   * The {@code tokenizer_config.json} of {@code tok}: the one it was read with, or one naming the
   * special tokens it uses; its chat template as {@code chat_template} (a list of named templates
   * in the original is kept as it is).
   */
  private static ObjectNode hfConfig(HfTokenizer tok) {
    ObjectNode hf;
    if (tok.tokenizerConfig().isPresent() && tok.tokenizerConfig().get().isObject()) {
      hf = (ObjectNode) tok.tokenizerConfig().get();
    } else {
      hf = BpeFiles.JSON.createObjectNode();
      hf.put("tokenizer_class", "PreTrainedTokenizerFast");
      hf.put("bos_token", tok.token(tok.bosId()));
      hf.put("eos_token", tok.token(tok.eosId()));
      hf.put("pad_token", tok.token(tok.padId()));
    }
    if (tok.chatTemplate().isPresent() && !hf.path("chat_template").isArray()) {
      hf.put("chat_template", tok.chatTemplate().get());
    }
    return hf;
  }

  /**
   * Writes {@code tokenizer} as a Hugging Face {@code tokenizer.json} (byte-level BPE model, GPT-2's
   * ByteLevel pre-tokenizer and decoder, {@code <|endoftext|>} as an added special token), which
   * the {@code tokenizers} library ({@code Tokenizer.from_file}) and {@link
   * Gpt2BpeTokenizer#fromTokenizerJson} read. Written atomically.
   *
   * @throws RlhfException if the file cannot be written
   */
  public static void writeTokenizerJson(Gpt2BpeTokenizer tokenizer, Path file) {
    Preconditions.checkNotNull(tokenizer, "tokenizer");
    Preconditions.checkNotNull(file, "file");
    try {
      Path parent = file.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      AtomicFiles.writeBytes(file, HfTokenizerJson.write(tokenizer));
    } catch (IOException e) {
      throw new RlhfException("cannot write " + file + ": " + e, e);
    }
  }

  /**
   * Reads the tokenizer saved in {@code dir} by {@link #save}, or else the Hugging Face / OpenAI
   * GPT-2 files there.
   *
   * @throws RlhfException if there is no tokenizer in {@code dir}, or (as DataFormatException) its
   *     config or files are malformed
   */
  public static Tokenizer load(Path dir) {
    Preconditions.checkNotNull(dir, "dir");
    Path configFile = dir.resolve(METADATA_FILE);
    if (!Files.isRegularFile(configFile)) {
      configFile = dir.resolve(HF_CONFIG_FILE); // rlhf4j before 0.2, or Hugging Face's
      if (!Files.isRegularFile(configFile)) {
        return huggingFace(dir);
      }
    }
    String src = configFile.toString();
    JsonNode config;
    try {
      config = BpeFiles.JSON.readTree(configFile.toFile());
    } catch (JsonProcessingException e) {
      throw BpeFiles.invalidJson(src, e);
    } catch (IOException e) {
      throw new RlhfException("cannot read " + src + ": " + e, e);
    }
    if (config == null || !config.isObject()) {
      throw new DataFormatException(src, 1, "expected a JSON object, got " + config);
    }
    if (!config.has("type")) {
      return huggingFace(dir); // Hugging Face's tokenizer_config.json
    }
    int version = config.path("format_version").asInt(FORMAT_VERSION);
    if (version > FORMAT_VERSION) {
      throw new DataFormatException(
          src, 1, "format_version " + version + " is newer than this library's " + FORMAT_VERSION);
    }
    String type = config.get("type").asText();
    Tokenizer tokenizer;
    switch (type) {
      case "byte":
        tokenizer = ByteTokenizer.create();
        break;
      case HF_TOKENIZER_TYPE:
        Path json = file(dir, config, "tokenizer_file", HfTokenizerJson.FILE, src);
        if (!json.getFileName().toString().equals(HfTokenizerJson.FILE)) {
          throw new DataFormatException(
              src, 1, "field \"tokenizer_file\" must be " + HfTokenizerJson.FILE + ", got " + config.get("tokenizer_file"));
        }
        tokenizer = HfTokenizer.fromDirectory(dir);
        break;
      case "gpt2-bpe":
        Path vocab = file(dir, config, "vocab_file", VOCAB_FILE, src);
        Path merges = file(dir, config, "merges_file", MERGES_FILE, src);
        if (!(Files.isRegularFile(vocab) && Files.isRegularFile(merges))
            && Files.isRegularFile(dir.resolve(HfTokenizerJson.FILE))) {
          // Re-saved by transformers' save_pretrained, which writes only tokenizer.json.
          tokenizer = Gpt2BpeTokenizer.fromTokenizerJson(dir.resolve(HfTokenizerJson.FILE));
        } else {
          tokenizer = Gpt2BpeTokenizer.fromVocabAndMerges(vocab, merges);
        }
        break;
      default:
        throw new DataFormatException(
            src,
            1,
            "field \"type\": unknown tokenizer type "
                + config.get("type")
                + ", expected \"byte\", \"gpt2-bpe\" or \"" + HF_TOKENIZER_TYPE + "\"");
    }
    JsonNode size = config.path("vocab_size");
    if (!size.isMissingNode() && size.asInt(-1) != tokenizer.vocabSize()) {
      throw new DataFormatException(
          src,
          1,
          "field \"vocab_size\" is "
              + size
              + " but the tokenizer has "
              + tokenizer.vocabSize()
              + " ids");
    }
    return tokenizer;
  }

  /**
   * A Hugging Face or OpenAI tokenizer directory: GPT-2's files ({@code vocab.json} + {@code
   * merges.txt}, {@code encoder.json} + {@code vocab.bpe}, or a GPT-2 byte-level {@code
   * tokenizer.json}) give a {@link Gpt2BpeTokenizer}; any other {@code tokenizer.json} (Llama 3,
   * Qwen2, SentencePiece-style BPE) an {@link HfTokenizer}.
   */
  private static Tokenizer huggingFace(Path dir) {
    Path json = dir.resolve(HfTokenizerJson.FILE);
    boolean gpt2Files = Files.isRegularFile(dir.resolve(VOCAB_FILE)) || Files.isRegularFile(dir.resolve("encoder.json"));
    if (!gpt2Files && Files.isRegularFile(json) && !HfTokenizerJson.isGpt2(json)) {
      return HfTokenizer.fromDirectory(dir);
    }
    return Gpt2BpeTokenizer.fromDirectory(dir);
  }

  /** The file named by {@code field}, which must be a plain file name inside {@code dir}. */
  private static Path file(Path dir, JsonNode config, String field, String dflt, String src) {
    JsonNode v = config.path(field);
    if (v.isMissingNode()) {
      return dir.resolve(dflt);
    }
    String name = v.isTextual() ? v.textValue() : "";
    if (name.isEmpty()
        || name.equals(".")
        || name.equals("..")
        || name.indexOf('/') >= 0
        || name.indexOf('\\') >= 0
        || name.indexOf('\0') >= 0) {
      throw new DataFormatException(
          src, 1, "field \"" + field + "\" must be a plain file name inside " + dir + ", got " + v);
    }
    return dir.resolve(name);
  }
}
