package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.rlhf4j.core.io.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads and writes PEFT's {@code adapter_config.json} for LoRA ({@code peft_type: "LORA"}).
 *
 * <p>Read: the supported fields become a {@link LoraConfig}; PEFT's bookkeeping fields ({@code
 * peft_version}, {@code revision}, {@code auto_mapping}, ...) are ignored; a PEFT feature rlhf4j does
 * not implement is refused with an {@link AdapterFormatException} naming the file, the field and its
 * value when it is set to anything but its inactive default (e.g. {@code bias: "all"}, {@code
 * use_dora: true}, a non-empty {@code rank_pattern}); a field unknown to rlhf4j is ignored if null,
 * false or empty and otherwise logged as a warning (PEFT adds fields with every release).
 *
 * <p>Write: the fields every PEFT release since 0.9 reads, with PEFT's names and value forms, so
 * that {@code PeftModel.from_pretrained} loads what rlhf4j saves. The file is written atomically.
 */
public final class PeftAdapterConfig {
  /** The file name PEFT uses. */
  public static final String FILE_NAME = "adapter_config.json";

  private static final Logger LOG = LoggerFactory.getLogger(PeftAdapterConfig.class);
  private static final ObjectMapper READER =
      new ObjectMapper()
          .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final ObjectMapper WRITER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** Fields read into {@link LoraConfig}. */
  private static final Set<String> SUPPORTED =
      Set.of(
          "peft_type", "r", "lora_alpha", "target_modules", "exclude_modules", "lora_dropout", "fan_in_fan_out",
          "use_rslora", "bias", "modules_to_save", "task_type", "base_model_name_or_path", "init_lora_weights",
          "inference_mode");

  /** Bookkeeping fields that do not change the adapter's meaning. */
  private static final Set<String> IGNORED =
      Set.of("peft_version", "revision", "auto_mapping", "megatron_core", "qalora_group_size", "layers_pattern", "runtime_config");

  /**
   * Features rlhf4j does not implement: refused unless null, false or empty ({@code layers_pattern}
   * only matters with {@code layers_to_transform}, so it is ignored).
   */
  private static final Map<String, String> UNSUPPORTED =
      Map.ofEntries(
          Map.entry("use_dora", "DoRA (weight-decomposed LoRA)"),
          Map.entry("lora_bias", "trained biases on lora_B"),
          Map.entry("layers_to_transform", "adapting only some layer indices"),
          Map.entry("rank_pattern", "per-module ranks"),
          Map.entry("alpha_pattern", "per-module alphas"),
          Map.entry("target_parameters", "LoRA on raw parameters (e.g. MoE experts)"),
          Map.entry("trainable_token_indices", "training selected embedding rows"),
          Map.entry("layer_replication", "replicated layers"),
          Map.entry("use_qalora", "QA-LoRA"),
          Map.entry("use_bdlora", "block-diagonal LoRA"),
          Map.entry("megatron_config", "Megatron parallel layers"),
          Map.entry("loftq_config", "LoftQ initialisation"),
          Map.entry("eva_config", "EVA initialisation"),
          Map.entry("corda_config", "CorDA initialisation"),
          Map.entry("arrow_config", "Arrow routing"),
          Map.entry("kasa_config", "KaSA"),
          Map.entry("lora_ga_config", "LoRA-GA initialisation"),
          Map.entry("monteclora_config", "MonteCLoRA"),
          Map.entry("alora_invocation_tokens", "activated LoRA"),
          Map.entry("ensure_weight_tying", "tied modules_to_save"));

  private PeftAdapterConfig() {}

  /**
   * Reads {@code file} (an {@code adapter_config.json}).
   *
   * @throws AdapterFormatException if the file cannot be read, is not valid JSON, or a field is
   *     missing, malformed or unsupported (the message names the file, field and value)
   */
  public static LoraConfig read(Path file) {
    checkNotNull(file, "file");
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new AdapterFormatException(file.toString(), "no such file (a PEFT adapter directory holds " + FILE_NAME + ")", e);
    } catch (IOException e) {
      throw new AdapterFormatException(file.toString(), "cannot read: " + e, e);
    }
    return parse(new String(bytes, StandardCharsets.UTF_8), file.toString());
  }

  /**
   * Parses the text of an {@code adapter_config.json}; {@code fileLabel} names it in errors.
   *
   * @throws AdapterFormatException as for {@link #read}
   */
  public static LoraConfig parse(String json, String fileLabel) {
    checkNotNull(json, "json");
    checkNotNull(fileLabel, "fileLabel");
    JsonNode root;
    try {
      root = READER.readTree(json);
    } catch (JsonProcessingException e) {
      throw new AdapterFormatException(fileLabel, "not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new AdapterFormatException(fileLabel, "must be a JSON object, got " + (root == null ? "nothing" : root.getNodeType()));
    }
    Fields f = new Fields(fileLabel, (ObjectNode) root);
    String peftType = f.requiredText("peft_type");
    if (!peftType.equals("LORA")) {
      throw f.error("peft_type", root.get("peft_type"), "only LORA adapters are supported");
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String name = e.getKey();
      JsonNode v = e.getValue();
      if (SUPPORTED.contains(name) || IGNORED.contains(name)) {
        continue;
      }
      String feature = UNSUPPORTED.get(name);
      if (feature != null) {
        if (!inactive(v)) {
          throw f.error(name, v, feature + " is not supported by rlhf4j");
        }
      } else if (!inactive(v)) {
        LOG.warn("{}: ignoring field {} = {} (unknown to rlhf4j)", fileLabel, name, v);
      }
    }
    String bias = f.optionalText("bias");
    if (bias != null && !bias.equals("none")) {
      throw f.error("bias", root.get("bias"), "only \"none\" is supported (rlhf4j does not train biases with LoRA)");
    }
    LoraConfig.Builder b = LoraConfig.builder();
    b.r(f.positiveInt("r"));
    b.alpha(f.number("lora_alpha", true));
    b.targetModules(f.modules("target_modules", true));
    TargetModules exclude = f.modules("exclude_modules", false);
    if (exclude != null) {
      b.excludeModules(exclude);
    }
    if (root.hasNonNull("lora_dropout")) {
      double p = f.number("lora_dropout", false);
      if (!(p >= 0 && p < 1)) {
        throw f.error("lora_dropout", root.get("lora_dropout"), "must be in [0, 1)");
      }
      b.dropout(p);
    }
    b.fanInFanOut(f.bool("fan_in_fan_out"));
    b.useRslora(f.bool("use_rslora"));
    b.inferenceMode(f.bool("inference_mode"));
    JsonNode save = root.get("modules_to_save");
    if (save != null && !save.isNull()) {
      b.modulesToSave(f.stringList("modules_to_save", save));
    }
    String task = f.optionalText("task_type");
    if (task != null) {
      if (!LoraConfig.SUPPORTED_TASK_TYPES.contains(task)) {
        throw f.error("task_type", root.get("task_type"), "rlhf4j supports " + LoraConfig.SUPPORTED_TASK_TYPES + " or null");
      }
      b.taskType(task);
    }
    String base = f.optionalText("base_model_name_or_path");
    if (base != null) {
      b.baseModelNameOrPath(base);
    }
    JsonNode init = root.get("init_lora_weights");
    if (init == null || init.isNull() || (init.isBoolean() && init.booleanValue())) {
      b.init(LoraInit.DEFAULT);
    } else if (init.isBoolean()) {
      b.init(LoraInit.RANDOM);
    } else if (init.isTextual() && init.textValue().equals("gaussian")) {
      b.init(LoraInit.GAUSSIAN);
    } else {
      throw f.error("init_lora_weights", init, "rlhf4j supports true, false and \"gaussian\"");
    }
    try {
      return b.build();
    } catch (IllegalArgumentException e) {
      throw new AdapterFormatException(fileLabel, e.getMessage(), e);
    }
  }

  /** The JSON text PEFT would write for {@code config} (pretty-printed, keys sorted as PEFT does). */
  public static String toJson(LoraConfig config) {
    checkNotNull(config, "config");
    ObjectNode o = WRITER.createObjectNode();
    o.putObject("alpha_pattern");
    o.putNull("auto_mapping");
    if (config.baseModelNameOrPath().isPresent()) {
      o.put("base_model_name_or_path", config.baseModelNameOrPath().get());
    } else {
      o.putNull("base_model_name_or_path");
    }
    o.put("bias", "none");
    if (config.excludeModules().isPresent()) {
      putModules(o, "exclude_modules", config.excludeModules().get());
    }
    o.put("fan_in_fan_out", config.fanInFanOut());
    o.put("inference_mode", config.inferenceMode());
    switch (config.init()) {
      case DEFAULT -> o.put("init_lora_weights", true);
      case RANDOM -> o.put("init_lora_weights", false);
      case GAUSSIAN -> o.put("init_lora_weights", "gaussian");
    }
    o.putNull("layers_pattern");
    o.putNull("layers_to_transform");
    double alpha = config.alpha();
    if (alpha == Math.rint(alpha) && Math.abs(alpha) < 1e15) {
      o.put("lora_alpha", (long) alpha);
    } else {
      o.put("lora_alpha", alpha);
    }
    o.put("lora_dropout", config.dropout());
    if (config.modulesToSave().isEmpty()) {
      o.putNull("modules_to_save");
    } else {
      ArrayNode a = o.putArray("modules_to_save");
      config.modulesToSave().forEach(a::add);
    }
    o.put("peft_type", "LORA");
    o.put("r", config.r());
    o.putObject("rank_pattern");
    o.putNull("revision");
    putModules(o, "target_modules", config.targetModules());
    if (config.taskType().isPresent()) {
      o.put("task_type", config.taskType().get());
    } else {
      o.putNull("task_type");
    }
    o.put("use_dora", false);
    o.put("use_rslora", config.useRslora());
    try {
      return WRITER.writeValueAsString(o) + "\n";
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise an adapter config", e);
    }
  }

  /**
   * Writes {@code config} to {@code file} atomically.
   *
   * @throws IOException if the file cannot be written
   */
  public static void write(Path file, LoraConfig config) throws IOException {
    checkNotNull(file, "file");
    AtomicFiles.writeString(file, toJson(config));
  }

  private static void putModules(ObjectNode o, String field, TargetModules t) {
    if (t.isList()) {
      ArrayNode a = o.putArray(field);
      t.names().forEach(a::add);
    } else {
      o.put(field, t.pattern());
    }
  }

  /** Whether a value is null, false, zero-length text or an empty array or object. */
  private static boolean inactive(JsonNode v) {
    return v == null
        || v.isNull()
        || (v.isBoolean() && !v.booleanValue())
        || (v.isTextual() && v.textValue().isEmpty())
        || (v.isContainerNode() && v.isEmpty());
  }

  /** Typed access to the fields of one file, with errors naming the file and field. */
  private static final class Fields {
    private final String file;
    private final ObjectNode root;

    Fields(String file, ObjectNode root) {
      this.file = file;
      this.root = root;
    }

    AdapterFormatException error(String field, JsonNode value, String why) {
      return new AdapterFormatException(file, "field \"" + field + "\" = " + value + ": " + why);
    }

    JsonNode required(String field) {
      JsonNode v = root.get(field);
      if (v == null || v.isNull()) {
        throw new AdapterFormatException(file, "field \"" + field + "\" is missing or null");
      }
      return v;
    }

    String requiredText(String field) {
      JsonNode v = required(field);
      if (!v.isTextual()) {
        throw error(field, v, "must be a string");
      }
      return v.textValue();
    }

    String optionalText(String field) {
      JsonNode v = root.get(field);
      if (v == null || v.isNull()) {
        return null;
      }
      if (!v.isTextual()) {
        throw error(field, v, "must be a string or null");
      }
      return v.textValue();
    }

    int positiveInt(String field) {
      JsonNode v = required(field);
      if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 1) {
        throw error(field, v, "must be a positive integer");
      }
      return v.intValue();
    }

    double number(String field, boolean positive) {
      JsonNode v = required(field);
      if (!v.isNumber() || !Double.isFinite(v.doubleValue()) || (positive && v.doubleValue() <= 0)) {
        throw error(field, v, positive ? "must be a positive number" : "must be a number");
      }
      return v.doubleValue();
    }

    boolean bool(String field) {
      JsonNode v = root.get(field);
      if (v == null || v.isNull()) {
        return false;
      }
      if (!v.isBoolean()) {
        throw error(field, v, "must be true or false");
      }
      return v.booleanValue();
    }

    List<String> stringList(String field, JsonNode v) {
      if (!v.isArray() || v.isEmpty()) {
        throw error(field, v, "must be a non-empty list of module names");
      }
      List<String> out = new ArrayList<>();
      for (JsonNode e : v) {
        if (!e.isTextual() || e.textValue().isEmpty()) {
          throw error(field, v, "must be a list of non-empty strings");
        }
        out.add(e.textValue());
      }
      return out;
    }

    TargetModules modules(String field, boolean required) {
      JsonNode v = root.get(field);
      if (v == null || v.isNull()) {
        if (required) {
          throw new AdapterFormatException(
              file,
              "field \"" + field + "\" is missing or null (PEFT then picks per-architecture defaults; rlhf4j needs the"
                  + " modules named: a list such as [\"q_proj\", \"v_proj\"], a regular expression or \"all-linear\")");
        }
        return null;
      }
      if (v.isTextual()) {
        try {
          return TargetModules.regex(v.textValue());
        } catch (IllegalArgumentException e) {
          throw error(field, v, e.getMessage());
        }
      }
      if (!required && v.isArray() && v.isEmpty()) {
        return null;
      }
      return TargetModules.of(stringList(field, v));
    }
  }
}
