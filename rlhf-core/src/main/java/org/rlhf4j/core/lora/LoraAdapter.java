package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.io.AtomicFiles;
import org.rlhf4j.core.io.SafetensorsException;
import org.rlhf4j.core.io.SafetensorsReader;
import org.rlhf4j.core.io.SafetensorsWriter;
import org.rlhf4j.core.io.TensorInfo;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.ParameterSpec;
import org.rlhf4j.core.model.Trainable;
import org.rlhf4j.core.tensor.Tensor;

/**
 * A LoRA adapter: the matrices {@code A [r, in]} and {@code B [out, r]} of each adapted linear layer
 * of a model, plus the full copies of PEFT's {@code modules_to_save}, all in one {@link FlatTensors}
 * whose names are PEFT's keys ({@code base_model.model.<module>.lora_A.weight}, ...), with their
 * gradients in another. Only these tensors are trained: an optimiser over {@link #parameters()} and
 * {@link #gradients()} keeps state for them alone, and the base model's weights are not touched.
 *
 * <p>The adapter can be {@linkplain #disable() disabled}, so that the model computes the base model
 * alone: PPO's reference model is the policy's base with its adapter disabled, without a second copy
 * of the weights. {@link #merge} adds {@code s · B A} into the base weights (for fast inference or
 * export) and {@link #unmerge} restores them bit for bit.
 *
 * <p>{@link #save} and {@link #load} use PEFT's directory format ({@code adapter_config.json} and
 * {@code adapter_model.safetensors}), so adapters move between rlhf4j and {@code peft}. Not
 * thread-safe. Close it to free its native memory; use after close throws.
 */
public final class LoraAdapter implements AutoCloseable {
  /** PEFT's prefix of every key in {@code adapter_model.safetensors}. */
  public static final String KEY_PREFIX = "base_model.model.";
  /** The weights file PEFT uses. */
  public static final String WEIGHTS_FILE = "adapter_model.safetensors";

  private final LoraConfig config;
  private final ImmutableList<LinearModule> modules;
  private final ImmutableMap<String, LinearModule> byName;
  private final ImmutableList<String> savedParameters; // HF names of modules_to_save parameters
  private final FlatTensors params;
  private final FlatTensors grads;
  private boolean enabled = true;
  private Map<String, INDArray> mergeBackups; // module -> its weights before merge; null when not merged
  private Map<String, Tensor> mergedWeights;
  private boolean closed;

  private LoraAdapter(
      LoraConfig config, List<LinearModule> modules, Map<String, long[]> savedShapes, DataType type) {
    this.config = config;
    this.modules = ImmutableList.copyOf(modules);
    ImmutableMap.Builder<String, LinearModule> m = ImmutableMap.builder();
    List<ParameterSpec> table = new ArrayList<>();
    for (LinearModule lm : modules) {
      m.put(lm.name(), lm);
      // the values are set by create/load; the table's initialisation is not used
      table.add(ParameterSpec.decayed(keyA(lm.name()), ParameterSpec.Init.zeros(), config.r(), lm.inFeatures()));
      table.add(ParameterSpec.decayed(keyB(lm.name()), ParameterSpec.Init.zeros(), lm.outFeatures(), config.r()));
    }
    this.byName = m.buildOrThrow();
    for (Map.Entry<String, long[]> e : savedShapes.entrySet()) {
      table.add(new ParameterSpec(savedKey(e.getKey()), e.getValue(), ParameterSpec.Init.zeros(), decays(e.getKey(), e.getValue())));
    }
    this.savedParameters = ImmutableList.copyOf(savedShapes.keySet());
    ParameterLayout layout = ParameterLayout.of(table);
    this.params = FlatTensors.zeros(layout, type);
    this.grads = FlatTensors.zeros(layout, type);
  }

  /** Whether AdamW decays a {@code modules_to_save} tensor: matrices and weights, not biases or norms. */
  private static boolean decays(String name, long[] shape) {
    if (shape.length >= 2) {
      return true;
    }
    return name.endsWith(".weight") && !name.contains("norm") && !name.contains(".ln_");
  }

  /** PEFT's key of module {@code module}'s {@code A}. */
  public static String keyA(String module) {
    return KEY_PREFIX + module + ".lora_A.weight";
  }

  /** PEFT's key of module {@code module}'s {@code B}. */
  public static String keyB(String module) {
    return KEY_PREFIX + module + ".lora_B.weight";
  }

  /** PEFT's key of the trained copy of model parameter {@code parameter} ({@code modules_to_save}). */
  public static String savedKey(String parameter) {
    return KEY_PREFIX + parameter;
  }

  /**
   * A new adapter on the linear layers of {@code linears} that {@code config} targets, initialised
   * from {@code seed} as {@link LoraConfig#init()} says; the copies of {@code modules_to_save} start
   * as the base model's values.
   *
   * @param config the adapter's hyper-parameters
   * @param linears the model's linear layers (Hugging Face module names), in model order
   * @param parameters the model's parameters by Hugging Face name (only those of {@code
   *     modules_to_save} are read; may be empty when there are none)
   * @param seed the initialisation seed
   * @param type FLOAT or DOUBLE
   * @throws IllegalArgumentException if no layer is targeted or a module to save has no parameters
   */
  public static LoraAdapter create(
      LoraConfig config, List<LinearModule> linears, Map<String, ? extends INDArray> parameters, long seed, DataType type) {
    checkNotNull(config, "config");
    checkType(type);
    List<LinearModule> chosen = select(config, linears, "LoRA config");
    Map<String, long[]> saved = savedShapes(config, parameters, "LoRA config");
    LoraAdapter a = new LoraAdapter(config, chosen, saved, type);
    SplittableRandom rng = new SplittableRandom(seed);
    for (LinearModule m : chosen) {
      LoraMath.initialize(a.a(m.name()), a.b(m.name()), config.init(), rng.split());
    }
    for (String p : saved.keySet()) {
      a.params.get(savedKey(p)).array().assign(parameters.get(p));
    }
    return a;
  }

  /**
   * Loads a PEFT adapter directory for a model with {@code linears} and {@code parameters} (as for
   * {@link #create}; for {@code modules_to_save} only the names and shapes of {@code parameters} are
   * used). Every layer the config targets must have its {@code lora_A} and {@code lora_B}, of shapes
   * {@code [r, in]} and {@code [out, r]}; any other key is an error.
   *
   * @throws AdapterFormatException naming the file and key or field of any problem
   */
  public static LoraAdapter load(
      Path dir, List<LinearModule> linears, Map<String, ? extends INDArray> parameters, DataType type) {
    checkNotNull(dir, "dir");
    checkType(type);
    AtomicFiles.recoverInterruptedSave(dir);
    LoraConfig config = PeftAdapterConfig.read(dir.resolve(PeftAdapterConfig.FILE_NAME));
    Path file = dir.resolve(WEIGHTS_FILE);
    String label = file.toString();
    if (!Files.isRegularFile(file)) {
      throw new AdapterFormatException(label, "no such file (a PEFT adapter directory holds " + WEIGHTS_FILE + ")");
    }
    List<LinearModule> chosen;
    Map<String, long[]> saved;
    try {
      chosen = select(config, linears, dir.resolve(PeftAdapterConfig.FILE_NAME).toString());
      saved = savedShapes(config, parameters, dir.resolve(PeftAdapterConfig.FILE_NAME).toString());
    } catch (IllegalArgumentException e) {
      throw new AdapterFormatException(dir.resolve(PeftAdapterConfig.FILE_NAME).toString(), e.getMessage(), e);
    }
    LoraAdapter a = new LoraAdapter(config, chosen, saved, type);
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      Set<String> expected = new LinkedHashSet<>();
      for (ParameterLayout.Entry e : a.params.layout().entries()) {
        expected.add(e.name());
      }
      for (TensorInfo t : r.tensors()) {
        if (!expected.contains(t.name())) {
          throw new AdapterFormatException(label, "unexpected key " + t.name() + ": " + explainUnexpected(t.name(), config, linears));
        }
        if (!t.dtype().isFloatingPoint()) {
          throw new AdapterFormatException(label, "key " + t.name() + " has dtype " + t.dtype() + "; adapter weights are floating point");
        }
        long[] want = a.params.layout().entry(t.name()).shape();
        if (!Arrays.equals(want, t.shapeArray())) {
          throw new AdapterFormatException(
              label,
              "key " + t.name() + " has shape " + Arrays.toString(t.shapeArray()) + " but the model and r = " + config.r()
                  + " need " + Arrays.toString(want) + " (lora_A is [r, in], lora_B is [out, r])");
        }
      }
      for (String key : expected) {
        if (!r.contains(key)) {
          throw new AdapterFormatException(label, "missing key " + key + " (adapter_config.json targets this module)");
        }
        INDArray dst = a.params.get(key).array();
        r.readInto(key, dst);
        if (!allFinite(a.params.get(key))) {
          throw new AdapterFormatException(label, "key " + key + " holds NaN or infinite values");
        }
      }
    } catch (SafetensorsException e) {
      a.close();
      throw new AdapterFormatException(label, e.getMessage(), e);
    } catch (RuntimeException e) {
      a.close();
      throw e;
    }
    return a;
  }

  private static String explainUnexpected(String key, LoraConfig config, List<LinearModule> linears) {
    if (!key.startsWith(KEY_PREFIX)) {
      return "PEFT's keys start with " + KEY_PREFIX;
    }
    String rest = key.substring(KEY_PREFIX.length());
    for (String suffix : new String[] {".lora_A.weight", ".lora_B.weight"}) {
      if (rest.endsWith(suffix)) {
        String module = rest.substring(0, rest.length() - suffix.length());
        boolean exists = linears.stream().anyMatch(l -> l.name().equals(module));
        return exists
            ? "module " + module + " is not targeted by target_modules " + config.targetModules()
            : "the model has no linear layer " + module;
      }
    }
    if (rest.contains(".lora_")) {
      return "unsupported LoRA tensor (embedding or DoRA adapters are not supported)";
    }
    return "neither a lora_A/lora_B weight nor a parameter of modules_to_save " + config.modulesToSave();
  }

  private static List<LinearModule> select(LoraConfig config, List<LinearModule> linears, String what) {
    checkNotNull(linears, "linears");
    List<LinearModule> chosen = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (LinearModule m : linears) {
      checkArgument(seen.add(m.name()), "linear module %s is listed twice", m.name());
      if (config.targets(m.name())) {
        chosen.add(m);
      }
    }
    if (chosen.isEmpty()) {
      List<String> names = linears.stream().map(LinearModule::name).limit(8).toList();
      throw new IllegalArgumentException(
          what + ": target_modules " + config.targetModules() + " match none of the model's " + linears.size()
              + " linear layers (e.g. " + names + ")");
    }
    return chosen;
  }

  private static Map<String, long[]> savedShapes(LoraConfig config, Map<String, ? extends INDArray> parameters, String what) {
    checkNotNull(parameters, "parameters");
    Map<String, long[]> out = new LinkedHashMap<>();
    if (config.modulesToSave().isEmpty()) {
      return out;
    }
    TargetModules save = TargetModules.of(config.modulesToSave());
    for (Map.Entry<String, ? extends INDArray> e : parameters.entrySet()) {
      String p = e.getKey();
      int dot = p.lastIndexOf('.');
      if (dot > 0 && save.matches(p.substring(0, dot))) {
        out.put(p, e.getValue().shape());
      }
    }
    for (String m : config.modulesToSave()) {
      boolean found = out.keySet().stream().anyMatch(p -> {
        String module = p.substring(0, p.lastIndexOf('.'));
        return module.equals(m) || module.endsWith("." + m);
      });
      checkArgument(found, "%s: modules_to_save names %s, but the model has no parameters of such a module", what, m);
    }
    return out;
  }

  private static void checkType(DataType type) {
    checkArgument(type == DataType.FLOAT || type == DataType.DOUBLE, "adapters are FLOAT or DOUBLE, got %s", type);
  }

  /**
   * Saves the adapter in PEFT's format: {@code dir} is replaced atomically by a directory holding
   * {@code adapter_config.json} and {@code adapter_model.safetensors} (F32, or F64 for a DOUBLE
   * adapter; keys in model order).
   *
   * @throws IOException if writing fails (the previous directory, if any, is left as it was)
   * @throws IllegalStateException if a weight is NaN or infinite (nothing is written)
   */
  public void save(Path dir) throws IOException {
    checkOpen();
    checkNotNull(dir, "dir");
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    for (ParameterLayout.Entry e : params.layout().entries()) {
      Tensor t = params.get(e.name());
      checkState(allFinite(t), "adapter tensor %s holds NaN or infinite values; refusing to save it", e.name());
      tensors.put(e.name(), t.array());
    }
    // PEFT writes the keys A, B per module in model order; keep that order rather than the layout's.
    Map<String, INDArray> ordered = new LinkedHashMap<>();
    for (LinearModule m : modules) {
      ordered.put(keyA(m.name()), tensors.get(keyA(m.name())));
      ordered.put(keyB(m.name()), tensors.get(keyB(m.name())));
    }
    for (String p : savedParameters) {
      ordered.put(savedKey(p), tensors.get(savedKey(p)));
    }
    AtomicFiles.publishDirectory(
        dir,
        tmp -> {
          PeftAdapterConfig.write(tmp.resolve(PeftAdapterConfig.FILE_NAME), config);
          SafetensorsWriter.write(tmp.resolve(WEIGHTS_FILE), ordered, Map.of("format", "pt"));
        });
  }

  /** The hyper-parameters. */
  public LoraConfig config() {
    return config;
  }

  /** The scale {@code s} of the adapter's output. */
  public double scale() {
    return config.scale();
  }

  /** The adapted linear layers, in model order. */
  public ImmutableList<LinearModule> modules() {
    return modules;
  }

  /** Whether the linear layer called {@code module} has an adapter. */
  public boolean adapts(String module) {
    return byName.containsKey(module);
  }

  /** The Hugging Face names of the model parameters trained in full ({@code modules_to_save}). */
  public ImmutableList<String> savedParameters() {
    return savedParameters;
  }

  /** {@code A [r, in]} of {@code module}. */
  public Tensor a(String module) {
    checkAdapted(module);
    return params.get(keyA(module));
  }

  /** {@code B [out, r]} of {@code module}. */
  public Tensor b(String module) {
    checkAdapted(module);
    return params.get(keyB(module));
  }

  /** The gradient of {@link #a(String)}. */
  public Tensor gradA(String module) {
    checkAdapted(module);
    return grads.get(keyA(module));
  }

  /** The gradient of {@link #b(String)}. */
  public Tensor gradB(String module) {
    checkAdapted(module);
    return grads.get(keyB(module));
  }

  /** The trained copy of model parameter {@code parameter} (one of {@link #savedParameters()}). */
  public Tensor saved(String parameter) {
    return params.get(savedKey(parameter));
  }

  /** The gradient of {@link #saved(String)}. */
  public Tensor savedGradient(String parameter) {
    return grads.get(savedKey(parameter));
  }

  /** Every trained tensor, named by PEFT's keys. */
  public FlatTensors parameters() {
    checkOpen();
    return params;
  }

  /** The gradients, laid out like {@link #parameters()}. */
  public FlatTensors gradients() {
    checkOpen();
    return grads;
  }

  /**
   * The adapter's tensors and gradients as one optimiser group ({@code new AdamW(config,
   * adapter.trainable(threads))}): AdamW then keeps moments for these tensors alone.
   */
  public Trainable trainable(int threads) {
    checkOpen();
    return new Trainable("lora", params, grads, threads);
  }

  /** Sets every gradient to zero. */
  public void zeroGradients() {
    checkOpen();
    grads.zero();
  }

  /** The number of trained parameters. */
  public long trainableParameterCount() {
    return params.layout().totalSize();
  }

  /** The element type. */
  public DataType dataType() {
    return params.flat().dataType();
  }

  /**
   * Whether the model should add the adapter's path: enabled and not merged (once merged, the base
   * weights already hold it).
   */
  public boolean active() {
    checkOpen();
    return enabled && mergeBackups == null;
  }

  /** Whether the adapter is enabled (the default). */
  public boolean isEnabled() {
    return enabled;
  }

  /** Enables or disables the adapter; disabled, the model computes its base alone. */
  public void setEnabled(boolean on) {
    checkOpen();
    checkState(mergeBackups == null || on, "a merged adapter cannot be disabled; unmerge it first");
    this.enabled = on;
  }

  /**
   * Disables the adapter until the returned handle is closed, e.g. {@code try (var base =
   * adapter.disable()) { reference log-probabilities }}; closing restores the previous state.
   */
  public Disabled disable() {
    boolean was = enabled;
    setEnabled(false);
    return new Disabled(this, was);
  }

  /** Re-enables (or leaves disabled, as before) the adapter when closed. */
  public static final class Disabled implements AutoCloseable {
    private final LoraAdapter adapter;
    private final boolean restore;
    private boolean done;

    private Disabled(LoraAdapter adapter, boolean restore) {
      this.adapter = adapter;
      this.restore = restore;
    }

    @Override
    public void close() {
      if (!done) {
        done = true;
        adapter.setEnabled(restore);
      }
    }
  }

  /** Whether the adapter is merged into the base weights. */
  public boolean isMerged() {
    return mergeBackups != null;
  }

  /**
   * Adds {@code s · B A} (transposed when {@link LoraConfig#fanInFanOut()}) into each adapted
   * module's base weight, keeping a copy of those weights so that {@link #unmerge} restores them
   * exactly; while merged, {@link #active()} is false (the model must not add the path again).
   *
   * @param baseWeights module name to its live base weight ({@code [out, in]}, or {@code [in, out]}
   *     with fan_in_fan_out); must hold every adapted module
   */
  public void merge(Map<String, Tensor> baseWeights) {
    checkOpen();
    checkState(mergeBackups == null, "the adapter is already merged");
    checkState(enabled, "a disabled adapter cannot be merged; enable it first");
    for (LinearModule m : modules) {
      checkArgument(baseWeights.containsKey(m.name()), "no base weight given for adapted module %s", m.name());
    }
    Map<String, INDArray> backups = new LinkedHashMap<>();
    Map<String, Tensor> targets = new LinkedHashMap<>();
    for (LinearModule m : modules) {
      Tensor w = baseWeights.get(m.name());
      backups.put(m.name(), w.array().dup());
      targets.put(m.name(), w);
      LoraMath.addDelta(w, a(m.name()), b(m.name()), scale(), config.fanInFanOut(), 1);
    }
    mergeBackups = backups;
    mergedWeights = targets;
  }

  /** Restores the base weights saved by {@link #merge}, bit for bit, and frees the copies. */
  public void unmerge() {
    checkOpen();
    checkState(mergeBackups != null, "the adapter is not merged");
    for (Map.Entry<String, Tensor> e : mergedWeights.entrySet()) {
      INDArray backup = mergeBackups.get(e.getKey());
      e.getValue().array().assign(backup);
      backup.close();
    }
    mergeBackups = null;
    mergedWeights = null;
  }

  /**
   * The tensors of a Hugging Face checkpoint with this adapter merged in, as PEFT's {@code
   * merge_and_unload()} writes them: each adapted module's {@code <module>.weight} plus {@code s · B
   * A}, the trained copies of {@code modules_to_save} in place of the originals, everything else the
   * same arrays as given.
   *
   * @param base the base model's tensors by Hugging Face name (not modified)
   * @return a new ordered map (merged weights are new FLOAT or DOUBLE arrays of the adapter's type)
   */
  public Map<String, INDArray> mergedTensors(Map<String, INDArray> base) {
    checkOpen();
    Map<String, INDArray> out = new LinkedHashMap<>(base);
    for (LinearModule m : modules) {
      String name = m.name() + ".weight";
      INDArray w = base.get(name);
      checkArgument(w != null, "the base tensors have no %s (adapted module %s)", name, m.name());
      INDArray merged = w.castTo(dataType()).dup('c');
      LoraMath.addDelta(Tensor.of(merged), a(m.name()), b(m.name()), scale(), config.fanInFanOut(), 1);
      out.put(name, merged);
    }
    for (String p : savedParameters) {
      checkArgument(base.containsKey(p), "the base tensors have no %s (modules_to_save)", p);
      out.put(p, saved(p).array().dup('c'));
    }
    return out;
  }

  /** Whether every element of {@code t} is finite. */
  static boolean allFinite(Tensor t) {
    int n = t.length();
    if (t.dataType() == DataType.FLOAT) {
      java.nio.FloatBuffer b = t.asFloatBuffer();
      for (int i = 0; i < n; i++) {
        if (!Float.isFinite(b.get(i))) {
          return false;
        }
      }
    } else {
      java.nio.DoubleBuffer b = t.asDoubleBuffer();
      for (int i = 0; i < n; i++) {
        if (!Double.isFinite(b.get(i))) {
          return false;
        }
      }
    }
    return true;
  }

  private void checkAdapted(String module) {
    checkOpen();
    checkArgument(byName.containsKey(module), "module %s has no adapter", module);
  }

  /** Whether {@link #close()} has been called. */
  public boolean isClosed() {
    return closed;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the adapter has been closed (its native memory was freed)");
    }
  }

  /** Frees the adapter's buffers (idempotent); using it afterwards is an {@link IllegalStateException}. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    params.close();
    grads.close();
    if (mergeBackups != null) {
      mergeBackups.values().forEach(INDArray::close);
    }
  }
}
