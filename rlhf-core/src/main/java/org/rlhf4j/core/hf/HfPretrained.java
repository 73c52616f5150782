package org.rlhf4j.core.hf;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.rlhf4j.core.data.ChatTemplate;
import org.rlhf4j.core.fs.AtomicFiles;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.tokenizer.HfTokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;

/**
 * A Hugging Face model folder as {@code huggingface-cli download} leaves it, loaded in one call,
 * like {@code AutoModelForCausalLM.from_pretrained(dir)} plus {@code AutoTokenizer.from_pretrained(dir)}
 * and the {@code GenerationConfig}: the model ({@code LlamaForCausalLM}, {@code Qwen2ForCausalLM} or
 * {@code MistralForCausalLM}, read by {@link HfLlama}), its {@code tokenizer.json} tokenizer (BOS,
 * EOS and PAD from {@code tokenizer_config.json}), its chat template ({@code chat_template.jinja} or
 * {@code tokenizer_config.json}'s {@code chat_template}, if any) and the ids that end a reply
 * ({@code eos_token_id} of {@code generation_config.json}, an id or a list, else of {@code
 * config.json}, else the tokenizer's EOS) and pad the batch.
 *
 * <pre>{@code
 * try (HfPretrained hf = HfPretrained.load(Path.of("models/SmolLM2-135M-Instruct"), ModelOptions.defaults())) {
 *   LlamaModel model = hf.llama();
 *   String prompt = hf.requireChatTemplate().generationPrompt(List.of(ChatMessage.user("Hi!")));
 *   int[] ids = hf.tokenizer().encode(prompt);
 * }
 * }</pre>
 *
 * <p>{@link #export} writes a model back as such a folder (weights and {@code config.json} by
 * {@link HfLlama#export}, plus {@code tokenizer.json}, {@code tokenizer_config.json} with the chat
 * template, and {@code generation_config.json}), which {@code transformers} and {@link #load} read.
 * Closing closes the model.
 */
public final class HfPretrained implements AutoCloseable {
  /** The files of a model folder. */
  public static final String CONFIG = "config.json";

  /** The generation settings file, whose {@code eos_token_id}/{@code pad_token_id} are read. */
  public static final String GENERATION_CONFIG = "generation_config.json";

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private final LlamaModel model;
  private final HfTokenizer tokenizer;
  private final Optional<ChatTemplate> chatTemplate;
  private final ImmutableList<Integer> eosIds;
  private final int padId;
  private final ImmutableMap<String, Object> config;
  private final Path dir;

  private HfPretrained(
      Path dir, LlamaModel model, HfTokenizer tokenizer, Optional<ChatTemplate> chatTemplate, List<Integer> eosIds, int padId,
      Map<String, Object> config) {
    this.dir = dir;
    this.model = model;
    this.tokenizer = tokenizer;
    this.chatTemplate = chatTemplate;
    this.eosIds = ImmutableList.copyOf(eosIds);
    this.padId = padId;
    this.config = ImmutableMap.copyOf(new LinkedHashMap<>(Maps.withoutNulls(config)));
  }

  /**
   * Loads the model folder {@code dir}.
   *
   * @throws CheckpointException naming the missing file or the bad field and value: no {@code
   *     config.json}, a {@code model_type} other than llama/qwen2/mistral, no weights ({@code
   *     model.safetensors} or {@code model.safetensors.index.json}), no {@code tokenizer.json}, an
   *     end or pad id outside the vocabulary, a tokenizer larger than the model's vocabulary
   */
  public static HfPretrained load(Path dir, ModelOptions options) {
    checkNotNull(dir, "dir");
    checkNotNull(options, "options");
    if (!Files.isDirectory(dir)) {
      throw new CheckpointException(dir + ": not a directory (expected a Hugging Face model folder with config.json,"
          + " model.safetensors and tokenizer.json, e.g. from huggingface-cli download)");
    }
    Path configFile = dir.resolve(CONFIG);
    if (!Files.isRegularFile(configFile)) {
      throw new CheckpointException(dir + ": no " + CONFIG + " (a Hugging Face model folder has config.json, model.safetensors"
          + " or model.safetensors.index.json, tokenizer.json and tokenizer_config.json)");
    }
    Map<String, Object> cfg = HfLlama.readJson(configFile);
    Object type = cfg.get("model_type");
    if (!("llama".equals(type) || "qwen2".equals(type) || "mistral".equals(type))) {
      throw new CheckpointException(configFile + ": field \"model_type\": " + (type == null ? "missing" : "\"" + type + "\"")
          + " is not a family HfPretrained reads (llama, qwen2, mistral; GPT-2 folders load with PretrainedModels.load)");
    }
    if (!Files.isRegularFile(dir.resolve("model.safetensors")) && !Files.isRegularFile(dir.resolve("model.safetensors.index.json"))) {
      boolean bin = Files.isRegularFile(dir.resolve("pytorch_model.bin")) || Files.isRegularFile(dir.resolve("pytorch_model.bin.index.json"));
      throw new CheckpointException(dir + ": no model.safetensors or model.safetensors.index.json"
          + (bin ? " (only PyTorch .bin weights are there; rlhf4j reads safetensors: download the model's *.safetensors files)" : ""));
    }
    if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
      throw new CheckpointException(dir + ": no tokenizer.json (download it with the model, e.g. huggingface-cli download <model>"
          + " tokenizer.json tokenizer_config.json)");
    }
    HfTokenizer tok = HfTokenizer.fromDirectory(dir);
    Optional<ChatTemplate> template = templateOf(tok, dir.toString());
    LlamaModel model = HfLlama.load(dir, options).model();
    try {
      if (tok.vocabSize() > model.vocabSize()) {
        throw new CheckpointException(dir.resolve("tokenizer.json") + ": the tokenizer has " + tok.vocabSize()
            + " ids but config.json's vocab_size is " + model.vocabSize());
      }
      Path genFile = dir.resolve(GENERATION_CONFIG);
      Map<String, Object> gen = Files.isRegularFile(genFile) ? HfLlama.readJson(genFile) : Map.of();
      List<Integer> eos = ids(gen, "eos_token_id", genFile, model.vocabSize());
      if (eos.isEmpty()) {
        eos = ids(cfg, "eos_token_id", configFile, model.vocabSize());
      }
      if (eos.isEmpty()) {
        eos = List.of(tok.eosId());
      }
      List<Integer> pad = ids(gen, "pad_token_id", genFile, model.vocabSize());
      if (pad.isEmpty()) {
        pad = ids(cfg, "pad_token_id", configFile, model.vocabSize());
      }
      return new HfPretrained(dir, model, tok, template, eos, pad.isEmpty() ? tok.padId() : pad.get(0), cfg);
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
  }

  /** The chat template carried by {@code tok} (see {@link HfTokenizer#chatTemplate()}), with its BOS/EOS texts. */
  public static Optional<ChatTemplate> templateOf(HfTokenizer tok, String source) {
    checkNotNull(tok, "tok");
    if (tok.chatTemplate().isEmpty()) {
      return Optional.empty();
    }
    JsonNode cfg = tok.tokenizerConfig().orElse(JSON.createObjectNode());
    return Optional.of(
        ChatTemplate.builder()
            .template(tok.chatTemplate().get())
            .source(source + " (chat template)")
            .bosToken(tokenText(cfg.path("bos_token")).orElse(""))
            .eosToken(tokenText(cfg.path("eos_token")).orElse(""))
            .build());
  }

  private static Optional<String> tokenText(JsonNode n) {
    if (n.isTextual()) {
      return Optional.of(n.textValue());
    }
    if (n.isObject() && n.path("content").isTextual()) {
      return Optional.of(n.get("content").textValue());
    }
    return Optional.empty();
  }

  /** The ids of {@code field} (absent or null: none; an id or a list of ids), each checked to be in the vocabulary. */
  private static List<Integer> ids(Map<String, Object> m, String field, Path file, int vocab) {
    Object v = m.get(field);
    if (v == null) {
      return List.of();
    }
    List<?> raw = v instanceof List<?> l ? l : List.of(v);
    List<Integer> out = new ArrayList<>();
    for (Object o : raw) {
      if (!(o instanceof Integer id) || id < 0 || id >= vocab) {
        throw new CheckpointException(file + ": field \"" + field + "\": " + v + " is not a token id (or list of ids) in [0, " + vocab + ")");
      }
      out.add(id);
    }
    return out;
  }

  /** The folder this was loaded from. */
  public Path directory() {
    return dir;
  }

  /** The model, as the seam's interface. */
  public CausalLm model() {
    return model;
  }

  /** The model (every family this class reads is a {@link LlamaModel}). */
  public LlamaModel llama() {
    return model;
  }

  /** The {@code tokenizer.json} tokenizer, with the folder's chat template attached. */
  public HfTokenizer tokenizer() {
    return tokenizer;
  }

  /** The model's chat template, if the folder has one. */
  public Optional<ChatTemplate> chatTemplate() {
    return chatTemplate;
  }

  /**
   * The model's chat template.
   *
   * @throws CheckpointException naming the files looked at if the folder has none (a base model:
   *     attach one with {@link HfTokenizer#withChatTemplate})
   */
  public ChatTemplate requireChatTemplate() {
    return chatTemplate.orElseThrow(
        () -> new CheckpointException(dir + ": no chat template (neither chat_template.jinja nor a \"chat_template\" field in"
            + " tokenizer_config.json); a base model has none: give one with HfTokenizer.withChatTemplate"));
  }

  /** The ids that end a reply (stop tokens for generation), first the main one. */
  public ImmutableList<Integer> eosIds() {
    return eosIds;
  }

  /** The id that pads a batch. */
  public int padId() {
    return padId;
  }

  /** The folder's {@code config.json}. */
  public ImmutableMap<String, Object> config() {
    return config;
  }

  @Override
  public void close() {
    model.close();
  }

  /**
   * Writes {@code model} and {@code tokenizer} as a Hugging Face model folder {@code dir}, replacing
   * it atomically: the weights and {@code config.json} of {@link HfLlama#export}, {@code
   * tokenizer.json} and {@code tokenizer_config.json} (with the tokenizer's chat template) of
   * {@link Tokenizers#save}, and {@code generation_config.json} with {@code eosIds} (the first also
   * goes into {@code config.json}) and the tokenizer's BOS and PAD.
   */
  public static void export(LlamaModel model, HfTokenizer tokenizer, List<Integer> eosIds, Path dir, HfLlama.ExportOptions options) {
    checkNotNull(model, "model");
    checkNotNull(tokenizer, "tokenizer");
    checkNotNull(eosIds, "eosIds");
    checkNotNull(dir, "dir");
    checkNotNull(options, "options");
    checkArgument(!eosIds.isEmpty(), "eosIds is empty");
    for (int id : eosIds) {
      checkArgument(id >= 0 && id < model.vocabSize(), "eos id %s is outside the vocabulary [0, %s)", id, model.vocabSize());
    }
    checkArgument(tokenizer.vocabSize() <= model.vocabSize(), "the tokenizer has %s ids, the model %s", tokenizer.vocabSize(),
        model.vocabSize());
    try {
      AtomicFiles.publishDirectory(dir, tmp -> {
        Path weights = tmp.resolve("weights");
        HfLlama.export(model, weights, options, tokenizer.bosId(), eosIds.get(0));
        try (Stream<Path> files = Files.list(weights)) {
          for (Path f : files.toList()) {
            Files.move(f, tmp.resolve(f.getFileName()));
          }
        }
        Files.delete(weights);
        Tokenizers.save(tokenizer, tmp);
        Map<String, Object> gen = new LinkedHashMap<>();
        gen.put("bos_token_id", tokenizer.bosId());
        gen.put("eos_token_id", eosIds.size() == 1 ? eosIds.get(0) : eosIds);
        gen.put("pad_token_id", tokenizer.padId());
        Files.writeString(tmp.resolve(GENERATION_CONFIG), JSON.writeValueAsString(gen));
      });
    } catch (IOException e) {
      throw new CheckpointException("cannot export " + dir + ": " + e.getMessage(), e);
    }
  }

  @Override
  public String toString() {
    return "HfPretrained(" + dir + ", " + model.architecture() + ", " + tokenizer.describe() + ", eos " + eosIds + ")";
  }

  /** Map helpers. */
  private static final class Maps {
    static Map<String, Object> withoutNulls(Map<String, Object> m) {
      Map<String, Object> out = new LinkedHashMap<>();
      m.forEach((k, v) -> {
        if (v != null) {
          out.put(k, v);
        }
      });
      return out;
    }
  }
}
