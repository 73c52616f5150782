package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A LoRA adapter's hyper-parameters: the fields of PEFT's {@code LoraConfig} that rlhf4j supports
 * (read and written as {@code adapter_config.json} by {@link PeftAdapterConfig}). Immutable; build
 * with {@link #builder()}, whose {@code build()} names an invalid field.
 *
 * <p>An adapted linear layer {@code y = x Wᵀ (+ b)} computes {@code y + s · (drop(x) Aᵀ) Bᵀ} with
 * {@code A [r, in]}, {@code B [out, r]} and {@code s = alpha / r} ({@code alpha / sqrt(r)} with
 * rsLoRA, {@link #useRslora()}).
 */
public final class LoraConfig {
  /** The task types rlhf4j's models serve: a causal LM and a sequence classifier (scalar head). */
  public static final List<String> SUPPORTED_TASK_TYPES = List.of("CAUSAL_LM", "SEQ_CLS");

  private final int r;
  private final double alpha;
  private final TargetModules targetModules;
  private final Optional<TargetModules> excludeModules;
  private final double dropout;
  private final boolean fanInFanOut;
  private final boolean useRslora;
  private final ImmutableList<String> modulesToSave;
  private final Optional<String> taskType;
  private final Optional<String> baseModelNameOrPath;
  private final LoraInit init;
  private final boolean inferenceMode;

  private LoraConfig(Builder b) {
    this.r = b.r;
    this.alpha = b.alpha;
    this.targetModules = b.targetModules;
    this.excludeModules = b.excludeModules;
    this.dropout = b.dropout;
    this.fanInFanOut = b.fanInFanOut;
    this.useRslora = b.useRslora;
    this.modulesToSave = ImmutableList.copyOf(b.modulesToSave);
    this.taskType = b.taskType;
    this.baseModelNameOrPath = b.baseModelNameOrPath;
    this.init = b.init;
    this.inferenceMode = b.inferenceMode;
  }

  /** A builder: r 8, alpha 16, dropout 0, default initialisation, no target modules yet. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this configuration's values. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.r = r;
    b.alpha = alpha;
    b.targetModules = targetModules;
    b.excludeModules = excludeModules;
    b.dropout = dropout;
    b.fanInFanOut = fanInFanOut;
    b.useRslora = useRslora;
    b.modulesToSave = modulesToSave;
    b.taskType = taskType;
    b.baseModelNameOrPath = baseModelNameOrPath;
    b.init = init;
    b.inferenceMode = inferenceMode;
    return b;
  }

  /** The rank ({@code r}). */
  public int r() {
    return r;
  }

  /** PEFT's {@code lora_alpha}. */
  public double alpha() {
    return alpha;
  }

  /** The scale of the adapter's output: {@code alpha / r}, or {@code alpha / sqrt(r)} with rsLoRA. */
  public double scale() {
    return useRslora ? alpha / Math.sqrt(r) : alpha / r;
  }

  /** The modules that get adapters ({@code target_modules}). */
  public TargetModules targetModules() {
    return targetModules;
  }

  /** Modules excluded although {@link #targetModules()} matches them ({@code exclude_modules}). */
  public Optional<TargetModules> excludeModules() {
    return excludeModules;
  }

  /**
   * Whether the module called {@code moduleName} gets an adapter: matched by {@link
   * #targetModules()} and not by {@link #excludeModules()}.
   */
  public boolean targets(String moduleName) {
    return targetModules.matches(moduleName) && !(excludeModules.isPresent() && excludeModules.get().matches(moduleName));
  }

  /** Dropout on the adapter's input during training ({@code lora_dropout}), in [0, 1). */
  public double dropout() {
    return dropout;
  }

  /**
   * Whether the base weights are stored {@code [in, out]} ({@code fan_in_fan_out}: GPT-2's Conv1D)
   * rather than {@code [out, in]} (torch's Linear). It changes only how the adapter is merged:
   * A stays {@code [r, in]} and B {@code [out, r]}.
   */
  public boolean fanInFanOut() {
    return fanInFanOut;
  }

  /** Whether the scale is {@code alpha / sqrt(r)} (rank-stabilised LoRA, {@code use_rslora}). */
  public boolean useRslora() {
    return useRslora;
  }

  /**
   * Modules trained in full and saved with the adapter ({@code modules_to_save}), e.g. {@code score}
   * (a reward model's head); a module matches as for a list of {@link TargetModules}.
   */
  public ImmutableList<String> modulesToSave() {
    return modulesToSave;
  }

  /** PEFT's {@code task_type}: {@code CAUSAL_LM}, {@code SEQ_CLS} or absent. */
  public Optional<String> taskType() {
    return taskType;
  }

  /** The base model the adapter was trained on ({@code base_model_name_or_path}), if recorded. */
  public Optional<String> baseModelNameOrPath() {
    return baseModelNameOrPath;
  }

  /** How new adapters are initialised ({@code init_lora_weights}). */
  public LoraInit init() {
    return init;
  }

  /** PEFT's {@code inference_mode} flag (written as given; rlhf4j can always train an adapter). */
  public boolean inferenceMode() {
    return inferenceMode;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof LoraConfig c
        && r == c.r
        && Double.compare(alpha, c.alpha) == 0
        && targetModules.equals(c.targetModules)
        && excludeModules.equals(c.excludeModules)
        && Double.compare(dropout, c.dropout) == 0
        && fanInFanOut == c.fanInFanOut
        && useRslora == c.useRslora
        && modulesToSave.equals(c.modulesToSave)
        && taskType.equals(c.taskType)
        && baseModelNameOrPath.equals(c.baseModelNameOrPath)
        && init == c.init
        && inferenceMode == c.inferenceMode;
  }

  @Override
  public int hashCode() {
    return Objects.hash(r, alpha, targetModules, excludeModules, dropout, fanInFanOut, useRslora, modulesToSave, taskType,
        baseModelNameOrPath, init, inferenceMode);
  }

  @Override
  public String toString() {
    return "LoraConfig{r=" + r + ", alpha=" + alpha + ", targets=" + targetModules
        + excludeModules.map(e -> ", exclude=" + e).orElse("") + ", dropout=" + dropout
        + (fanInFanOut ? ", fan_in_fan_out" : "") + (useRslora ? ", rslora" : "")
        + (modulesToSave.isEmpty() ? "" : ", modules_to_save=" + modulesToSave)
        + taskType.map(t -> ", task=" + t).orElse("") + ", init=" + init + "}";
  }

  /** Builds a {@link LoraConfig}; {@link #build()} checks every field. */
  public static final class Builder {
    private int r = 8;
    private double alpha = 16;
    private TargetModules targetModules;
    private Optional<TargetModules> excludeModules = Optional.empty();
    private double dropout;
    private boolean fanInFanOut;
    private boolean useRslora;
    private List<String> modulesToSave = List.of();
    private Optional<String> taskType = Optional.empty();
    private Optional<String> baseModelNameOrPath = Optional.empty();
    private LoraInit init = LoraInit.DEFAULT;
    private boolean inferenceMode;

    private Builder() {}

    /** The rank, at least 1. */
    public Builder r(int rank) {
      this.r = rank;
      return this;
    }

    /** {@code lora_alpha}, positive and finite. */
    public Builder alpha(double a) {
      this.alpha = a;
      return this;
    }

    /** The modules to adapt (required). */
    public Builder targetModules(TargetModules t) {
      this.targetModules = checkNotNull(t, "targetModules");
      return this;
    }

    /** The modules to adapt, by name (see {@link TargetModules#of(java.util.Collection)}). */
    public Builder targetModules(String... names) {
      return targetModules(TargetModules.of(names));
    }

    /** Modules not to adapt although targeted. */
    public Builder excludeModules(TargetModules t) {
      this.excludeModules = Optional.of(checkNotNull(t, "excludeModules"));
      return this;
    }

    /** No excluded modules (the default). */
    public Builder noExcludeModules() {
      this.excludeModules = Optional.empty();
      return this;
    }

    /** Dropout on the adapter's input, in [0, 1). */
    public Builder dropout(double p) {
      this.dropout = p;
      return this;
    }

    /** Whether the base weights are {@code [in, out]} (GPT-2's Conv1D). */
    public Builder fanInFanOut(boolean b) {
      this.fanInFanOut = b;
      return this;
    }

    /** Whether to scale by {@code alpha / sqrt(r)}. */
    public Builder useRslora(boolean b) {
      this.useRslora = b;
      return this;
    }

    /** Modules trained in full alongside the adapter (e.g. {@code score}). */
    public Builder modulesToSave(List<String> names) {
      this.modulesToSave = List.copyOf(checkNotNull(names, "modulesToSave"));
      return this;
    }

    /** PEFT's task type, one of {@link LoraConfig#SUPPORTED_TASK_TYPES}. */
    public Builder taskType(String t) {
      this.taskType = Optional.of(checkNotNull(t, "taskType"));
      return this;
    }

    /** No task type (the default). */
    public Builder noTaskType() {
      this.taskType = Optional.empty();
      return this;
    }

    /** The base model's name or path, recorded in the file. */
    public Builder baseModelNameOrPath(String s) {
      this.baseModelNameOrPath = Optional.of(checkNotNull(s, "baseModelNameOrPath"));
      return this;
    }

    /** No recorded base model (the default). */
    public Builder noBaseModelNameOrPath() {
      this.baseModelNameOrPath = Optional.empty();
      return this;
    }

    /** The initialisation of new adapters. */
    public Builder init(LoraInit i) {
      this.init = checkNotNull(i, "init");
      return this;
    }

    /** PEFT's {@code inference_mode} flag. */
    public Builder inferenceMode(boolean b) {
      this.inferenceMode = b;
      return this;
    }

    /**
     * The configuration.
     *
     * @throws IllegalArgumentException naming the first invalid field
     */
    public LoraConfig build() {
      checkArgument(r >= 1, "r must be >= 1, got %s", r);
      checkArgument(alpha > 0 && Double.isFinite(alpha), "lora_alpha must be positive and finite, got %s", alpha);
      checkArgument(targetModules != null, "target_modules must be set");
      checkArgument(dropout >= 0 && dropout < 1, "lora_dropout must be in [0, 1), got %s", dropout);
      for (String m : modulesToSave) {
        checkArgument(m != null && !m.isEmpty(), "modules_to_save has an empty name: %s", modulesToSave);
      }
      checkArgument(
          taskType.isEmpty() || SUPPORTED_TASK_TYPES.contains(taskType.get()),
          "task_type %s is not supported; rlhf4j supports %s (or none)",
          taskType.orElse(null),
          SUPPORTED_TASK_TYPES);
      return new LoraConfig(this);
    }
  }
}
