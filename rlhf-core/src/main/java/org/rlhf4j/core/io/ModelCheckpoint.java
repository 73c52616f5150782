package org.rlhf4j.core.io;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.google.common.collect.ImmutableMap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.Rlhf4j;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ModelFamily;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;

/**
 * A model checkpoint: a directory holding {@code model.safetensors} (every parameter by its GPT-2
 * name), {@code rlhf4j.json} (format version, library version, model configuration, provenance and
 * free-form extras such as a reward model's normalisation) and, optionally, the tokenizer's files.
 * The directory is written beside its target and renamed into place, so a crash never leaves a
 * half-written checkpoint. Loading checks every tensor's name, shape and dtype. No Java serialization.
 */
public final class ModelCheckpoint {
  /** The format version written into {@code rlhf4j.json}. */
  public static final int FORMAT_VERSION = 1;

  static final String WEIGHTS = "model.safetensors";
  static final String META = "rlhf4j.json";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** A loaded checkpoint. */
  public record Loaded(GptModel model, Provenance provenance, ImmutableMap<String, Object> extra, Optional<Tokenizer> tokenizer, String libraryVersion) {}

  private ModelCheckpoint() {}

  /**
   * Writes {@code model} to the directory {@code dir} (replacing it atomically).
   *
   * @param extra JSON-friendly values stored beside the weights (may be empty)
   * @param tokenizer saved with the model if not null
   */
  public static void save(Path dir, CausalLm model, Provenance provenance, Map<String, ?> extra, Tokenizer tokenizer) {
    try {
      AtomicFiles.publishDirectory(dir, tmp -> writeFiles(tmp, model, provenance, extra, tokenizer));
    } catch (IOException e) {
      throw new CheckpointException("cannot write checkpoint " + dir + ": " + e.getMessage(), e);
    }
  }

  /**
   * Writes the checkpoint files into the existing directory {@code dir}, without atomicity: for
   * composite checkpoints that publish a whole directory tree at once (see {@link
   * AtomicFiles#publishDirectory}).
   */
  public static void writeFiles(Path dir, CausalLm model, Provenance provenance, Map<String, ?> extra, Tokenizer tokenizer)
      throws IOException {
    Map<String, Object> meta = new LinkedHashMap<>();
    meta.put("format", "rlhf4j-checkpoint");
    meta.put("format_version", FORMAT_VERSION);
    meta.put("library_version", Rlhf4j.VERSION);
    if (!model.architecture().equals(GptModel.ARCHITECTURE)) {
      meta.put("architecture", model.architecture()); // GPT-2 checkpoints keep the original format
    }
    meta.put("model", model.configMap());
    meta.put("dtype", model.dataType().name().toLowerCase(java.util.Locale.ROOT));
    meta.put("provenance", provenance.toMap());
    meta.put("extra", extra == null ? Map.of() : extra);
    Files.createDirectories(dir);
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    for (ParameterLayout.Entry e : model.parameters().layout().entries()) {
      tensors.put(e.name(), model.parameters().get(e.name()).array());
    }
    SafetensorsWriter.write(dir.resolve(WEIGHTS), tensors, Map.of("format", "rlhf4j", "library_version", Rlhf4j.VERSION));
    Files.writeString(dir.resolve(META), JSON.writeValueAsString(meta));
    if (tokenizer != null) {
      Tokenizers.save(tokenizer, dir);
    }
  }

  /**
   * Overwrites {@code target}'s parameters with those of the checkpoint in {@code dir}, whose model
   * configuration must equal {@code target}'s.
   */
  public static void loadInto(Path dir, CausalLm target) {
    Path metaFile = dir.resolve(META);
    Map<String, Object> meta = readJson(metaFile);
    String architecture = architecture(meta, metaFile);
    if (!architecture.equals(target.architecture())) {
      throw new CheckpointException(
          metaFile + ": the checkpoint holds a " + architecture + " model, the target is a " + target.architecture() + " model");
    }
    if (target instanceof GptModel gpt) {
      GptConfig config = GptConfig.fromMap(mapField(meta, "model", metaFile), metaFile.toString());
      if (!config.equals(gpt.config())) {
        throw new CheckpointException(metaFile + ": the checkpoint's model " + config + " differs from the target " + gpt.config());
      }
    } else if (!mapField(meta, "model", metaFile).equals(target.configMap())) {
      throw new CheckpointException(
          metaFile + ": the checkpoint's model " + meta.get("model") + " differs from the target " + target.configMap());
    }
    readWeights(dir.resolve(WEIGHTS), target);
  }

  /** The extra fields (e.g. {@code kind}) of the checkpoint in {@code dir}, without loading its weights. */
  public static ImmutableMap<String, Object> readExtra(Path dir) {
    Path metaFile = dir.resolve(META);
    Map<String, Object> meta = readJson(metaFile);
    return ImmutableMap.copyOf(meta.containsKey("extra") ? mapField(meta, "extra", metaFile) : Map.of());
  }

  /**
   * Reads the GPT-2 checkpoint in {@code dir} into a new model with {@code options}; checkpoints of
   * other architectures are read by {@link #loadAny}.
   */
  public static Loaded load(Path dir, ModelOptions options) {
    Map<String, Object> meta = readMeta(dir);
    Path metaFile = dir.resolve(META);
    String architecture = architecture(meta, metaFile);
    if (!architecture.equals(GptModel.ARCHITECTURE)) {
      throw new CheckpointException(
          metaFile + ": field \"architecture\": " + architecture + " checkpoints are read by ModelCheckpoint.loadAny (its"
              + " family registered as a ModelFamily) or loadInto; load() builds GPT-2 models only");
    }
    GptConfig config = GptConfig.fromMap(mapField(meta, "model", metaFile), metaFile.toString());
    Provenance provenance = Provenance.fromMap(mapField(meta, "provenance", metaFile), metaFile.toString());
    GptModel model;
    try (SafetensorsReader r = SafetensorsReader.open(dir.resolve(WEIGHTS))) {
      checkSizes(config, metaFile.toString(), r.names().size());
      // Shapes (and, by the header parser, the file's size) are checked before allocating.
      checkTensors(r, dir.resolve(WEIGHTS), config.layout());
      model = GptModel.uninitialized(config, options);
      try {
        readTensors(r, dir.resolve(WEIGHTS), model);
      } catch (RuntimeException e) {
        model.close();
        throw e;
      }
    }
    return new Loaded(model, provenance, extra(meta, metaFile), tokenizer(dir), String.valueOf(meta.get("library_version")));
  }

  /** A loaded checkpoint of any architecture. */
  public record LoadedLm(CausalLm model, Provenance provenance, ImmutableMap<String, Object> extra, Optional<Tokenizer> tokenizer, String libraryVersion) {}

  /**
   * Reads the checkpoint in {@code dir}, of any architecture, into a new model with {@code options}:
   * GPT-2 (as {@link #load}), or a family registered as a {@link ModelFamily} under the checkpoint's
   * {@code "architecture"}.
   *
   * @throws CheckpointException if no family of that name is registered, or the configuration or
   *     the tensors do not fit
   */
  public static LoadedLm loadAny(Path dir, ModelOptions options) {
    Map<String, Object> meta = readMeta(dir);
    Path metaFile = dir.resolve(META);
    String architecture = architecture(meta, metaFile);
    if (architecture.equals(GptModel.ARCHITECTURE)) {
      Loaded l = load(dir, options);
      return new LoadedLm(l.model(), l.provenance(), l.extra(), l.tokenizer(), l.libraryVersion());
    }
    ModelFamily family =
        ModelFamily.find(architecture)
            .orElseThrow(
                () -> new CheckpointException(metaFile + ": field \"architecture\": no model family \"" + architecture
                    + "\" is registered (META-INF/services/" + ModelFamily.class.getName() + ")"));
    Provenance provenance = Provenance.fromMap(mapField(meta, "provenance", metaFile), metaFile.toString());
    CausalLm model;
    try {
      model = family.uninitialized(mapField(meta, "model", metaFile), metaFile.toString(), options);
    } catch (IllegalArgumentException e) {
      throw new CheckpointException(metaFile + ": field \"model\": " + e.getMessage(), e);
    }
    try {
      readWeights(dir.resolve(WEIGHTS), model);
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
    return new LoadedLm(model, provenance, extra(meta, metaFile), tokenizer(dir), String.valueOf(meta.get("library_version")));
  }

  /** The metadata of the checkpoint in {@code dir} (after recovering an interrupted save), its version checked. */
  private static Map<String, Object> readMeta(Path dir) {
    AtomicFiles.recoverInterruptedSave(dir);
    Path metaFile = dir.resolve(META);
    if (!Files.isRegularFile(metaFile)) {
      throw new CheckpointException(dir + ": not an rlhf4j checkpoint (no " + META + ")");
    }
    Map<String, Object> meta = readJson(metaFile);
    Object version = meta.get("format_version");
    if (!(version instanceof Integer) || (Integer) version < 1 || (Integer) version > FORMAT_VERSION) {
      throw new CheckpointException(metaFile + ": field \"format_version\": unsupported value " + version + " (this library reads 1.." + FORMAT_VERSION + ")");
    }
    return meta;
  }

  private static ImmutableMap<String, Object> extra(Map<String, Object> meta, Path metaFile) {
    return ImmutableMap.copyOf(meta.containsKey("extra") ? mapField(meta, "extra", metaFile) : Map.of());
  }

  private static Optional<Tokenizer> tokenizer(Path dir) {
    if (Files.exists(dir.resolve(Tokenizers.METADATA_FILE)) || Files.exists(dir.resolve(Tokenizers.HF_CONFIG_FILE))) {
      return Optional.of(Tokenizers.load(dir));
    }
    return Optional.empty();
  }

  /** Fills {@code model}'s parameters from a safetensors file with exactly its tensor names and shapes. */
  static void readWeights(Path file, CausalLm model) {
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      checkTensors(r, file, model.parameters().layout());
      readTensors(r, file, model);
    }
  }

  /** Checks that {@code r} holds exactly the tensors of {@code layout}, floating-point, with its shapes. */
  private static void checkTensors(SafetensorsReader r, Path file, ParameterLayout layout) {
    TreeSet<String> missing = new TreeSet<>();
    for (ParameterLayout.Entry e : layout.entries()) {
      if (!r.contains(e.name())) {
        missing.add(e.name());
      }
    }
    List<String> unknown = new ArrayList<>();
    for (String n : r.names()) {
      if (!layout.contains(n)) {
        unknown.add(n);
      }
    }
    if (!missing.isEmpty() || !unknown.isEmpty()) {
      throw new CheckpointException(file + ": tensors do not match the model configuration; missing " + missing + ", unexpected " + unknown);
    }
    for (ParameterLayout.Entry e : layout.entries()) {
      TensorInfo info = r.info(e.name());
      if (!info.dtype().isFloatingPoint()) {
        throw new CheckpointException(file + ": tensor " + e.name() + " has dtype " + info.dtype() + ", expected a floating-point type");
      }
      if (!java.util.Arrays.equals(info.shapeArray(), e.shape())) {
        throw new CheckpointException(
            file + ": tensor " + e.name() + " has shape " + info.shape() + ", expected " + java.util.Arrays.toString(e.shape()));
      }
    }
  }

  /** The {@code architecture} field of {@code meta}; absent means GPT-2 (the original format). */
  private static String architecture(Map<String, Object> meta, Path metaFile) {
    Object a = meta.getOrDefault("architecture", GptModel.ARCHITECTURE);
    if (!(a instanceof String s) || s.isEmpty()) {
      throw new CheckpointException(metaFile + ": field \"architecture\" must be a non-empty string, got " + a);
    }
    return s;
  }

  private static void readTensors(SafetensorsReader r, Path file, CausalLm model) {
    for (ParameterLayout.Entry e : model.parameters().layout().entries()) {
      INDArray target = model.parameters().get(e.name()).array();
      r.readInto(e.name(), target);
      checkFinite(target, e.name(), file.toString());
    }
  }

  /**
   * The system property that, set to {@code true}, lets weights with NaN or infinite values load
   * (with a warning) instead of being refused.
   */
  public static final String ALLOW_NON_FINITE_PROPERTY = "rlhf4j.load.allowNonFiniteWeights";

  /**
   * Refuses a loaded tensor holding NaN or an infinity, naming it and the count, unless the system
   * property {@value #ALLOW_NON_FINITE_PROPERTY} is {@code true} (then it is only logged).
   *
   * @throws CheckpointException if {@code values} is not finite and that is not allowed
   */
  public static void checkFinite(INDArray values, String tensor, String file) {
    if (Double.isFinite(values.norm2Number().doubleValue())) {
      return; // a NaN or infinity makes the norm non-finite; only then are the values scanned
    }
    long bad = 0;
    long first = -1;
    long n = values.length();
    INDArray flat = values.reshape(n);
    for (long i = 0; i < n; i++) {
      double v = flat.getDouble(i);
      if (!Double.isFinite(v)) {
        if (first < 0) {
          first = i;
        }
        bad++;
      }
    }
    if (bad == 0) {
      return;
    }
    String what = file + ": tensor " + tensor + " has " + bad + " non-finite value(s) (NaN or infinity), the first at flat index " + first
        + " = " + flat.getDouble(first);
    if (Boolean.getBoolean(ALLOW_NON_FINITE_PROPERTY)) {
      org.slf4j.LoggerFactory.getLogger(ModelCheckpoint.class).warn("{}; loading it because -D{}=true", what, ALLOW_NON_FINITE_PROPERTY);
      return;
    }
    throw new CheckpointException(what + "; refusing to load it (set -D" + ALLOW_NON_FINITE_PROPERTY + "=true to load it anyway)");
  }

  /**
   * Refuses a configuration whose parameter count overflows or whose tensors could not be
   * indexed, before anything is allocated for it.
   */
  public static void checkSizes(GptConfig config, String source, int tensorsPresent) {
    // Each block has 12 tensors; checked first so that no per-layer structure is built for a
    // config claiming billions of layers.
    if ((long) config.layers() * 12 > tensorsPresent) {
      throw new CheckpointException(source + ": the configuration has " + config.layers() + " layers, which need at least "
          + (long) config.layers() * 12 + " tensors, but the weights hold " + tensorsPresent);
    }
    long d = config.dModel();
    try {
      long total = Math.multiplyExact((long) config.vocabSize(), d);
      total = Math.addExact(total, Math.multiplyExact((long) config.contextLength(), d));
      long perLayer = Math.addExact(Math.multiplyExact(12L, Math.multiplyExact(d, d)), Math.multiplyExact(13L, d));
      total = Math.addExact(total, Math.multiplyExact(perLayer, (long) config.layers()));
      if (total > (1L << 40)) {
        throw new CheckpointException(source + ": the configuration (vocab " + config.vocabSize() + ", d " + d + ", layers " + config.layers()
            + ", context " + config.contextLength() + ") implies " + total + " parameters; refusing (limit 2^40)");
      }
    } catch (ArithmeticException e) {
      throw new CheckpointException(source + ": the configuration (vocab " + config.vocabSize() + ", d " + d + ", layers " + config.layers()
          + ", context " + config.contextLength() + ") implies a parameter count that overflows a long; refusing");
    }
  }


  static Map<String, Object> readJson(Path file) {
    try {
      return JSON.readValue(file.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
    } catch (IOException e) {
      throw new CheckpointException(file + ": not valid JSON: " + e.getMessage(), e);
    }
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> mapField(Map<String, Object> m, String field, Path file) {
    Object v = m.get(field);
    if (!(v instanceof Map)) {
      throw new CheckpointException(file + ": field \"" + field + "\": expected an object, got " + v);
    }
    return (Map<String, Object>) v;
  }

  /** Whether {@code dir} looks like an rlhf4j checkpoint. */
  public static boolean isCheckpoint(Path dir) {
    return Files.isRegularFile(dir.resolve(META)) && Files.isRegularFile(dir.resolve(WEIGHTS));
  }

}
