package org.rlhf4j.core.sft;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.rlhf4j.core.data.TruncationPolicy;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.train.TrainingArguments;
import org.rlhf4j.core.train.TrainingConfig;

/**
 * The configuration of {@link SftTrainer} (supervised fine-tuning and pre-training), after TRL's
 * {@code SFTConfig}. Immutable; {@link Builder#build()} names an invalid field.
 */
public final class SftConfig extends TrainingConfig {
  /**
   * The shape of the learning-rate decay.
   *
   * @deprecated use {@link TrainingArguments.Schedule} (the same constants)
   */
  @Deprecated
  public enum Schedule {
    CONSTANT,
    LINEAR,
    COSINE
  }

  private final int epochs;
  private final int maxSteps;
  private final int maxLength;
  private final boolean completionOnlyLoss;
  private final boolean addBos;
  private final TruncationPolicy truncation;

  private SftConfig(Builder b, TrainingArguments training) {
    super(training);
    epochs = b.epochs;
    maxSteps = b.maxSteps;
    maxLength = b.maxLength;
    completionOnlyLoss = b.completionOnlyLoss;
    addBos = b.addBos;
    truncation = b.truncation;
  }

  /** TRL's defaults: lr 2e-5, linear decay, 3 epochs, batch 8, max length 1024, seed 42. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Learning-rate decay after warm-up.
   *
   * @deprecated use {@code training().schedule()}
   */
  @Deprecated
  public Schedule schedule() {
    return Schedule.valueOf(training().schedule().name());
  }

  /** Passes over the data (ignored when {@link #maxSteps()} is set). */
  public int epochs() {
    return epochs;
  }

  /** Optimiser steps to run; 0 means {@code epochs} passes. */
  public int maxSteps() {
    return maxSteps;
  }

  /** Longest sequence in tokens (also capped by the model's context). */
  public int maxLength() {
    return maxLength;
  }

  /** Train on completion tokens only (prompt tokens get no loss). */
  public boolean completionOnlyLoss() {
    return completionOnlyLoss;
  }

  /** Start every sequence with the tokenizer's BOS. */
  public boolean addBos() {
    return addBos;
  }

  /** What happens to an example longer than {@link #maxLength()} (default {@link TruncationPolicy#BALANCED}). */
  public TruncationPolicy truncation() {
    return truncation;
  }

  /** A JSON-friendly description, for checkpoint provenance. */
  public Map<String, Object> toMap() {
    TrainingArguments training = training();
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("learning_rate", training.learningRate());
    m.put("lr_scheduler_type", training.scheduleName());
    m.put("warmup_steps", training.warmupSteps());
    m.put("num_train_epochs", epochs);
    m.put("max_steps", maxSteps);
    m.put("per_device_train_batch_size", training.batchSize());
    m.put("max_length", maxLength);
    m.put("weight_decay", training.weightDecay());
    m.put("max_grad_norm", training.maxGradNorm());
    m.put("seed", training.seed());
    m.put("eval_steps", training.evalEvery());
    m.put("completion_only_loss", completionOnlyLoss);
    m.put("add_bos", addBos);
    m.put("truncation", truncation.name().toLowerCase(Locale.ROOT));
    return m;
  }

  @Override
  public String toString() {
    return "SftConfig" + toMap();
  }

  /** Builds a validated {@link SftConfig}. */
  public static final class Builder extends TrainingConfig.Builder<Builder> {
    private int epochs = 3;
    private int maxSteps;
    private int maxLength = 1024;
    private boolean completionOnlyLoss = true;
    private boolean addBos = true;
    private TruncationPolicy truncation = TruncationPolicy.BALANCED;

    private Builder() {
      super(TrainingArguments.builder().learningRate(2e-5).schedule(TrainingArguments.Schedule.LINEAR).batchSize(8).seed(42), "batchSize");
    }

    @Override
    protected Builder self() {
      return this;
    }

    /**
     * Sets the learning-rate schedule.
     *
     * @deprecated use {@link #schedule(TrainingArguments.Schedule)}
     */
    @Deprecated
    public Builder schedule(Schedule v) {
      checkArgument(v != null, "schedule must be set");
      return schedule(TrainingArguments.Schedule.valueOf(v.name()));
    }

    /** Sets {@link SftConfig#epochs()}. */
    public Builder epochs(int v) {
      epochs = v;
      return this;
    }

    /** Sets {@link SftConfig#maxSteps()}. */
    public Builder maxSteps(int v) {
      maxSteps = v;
      return this;
    }

    /** Sets {@link SftConfig#maxLength()}. */
    public Builder maxLength(int v) {
      maxLength = v;
      return this;
    }

    /** Sets {@link SftConfig#completionOnlyLoss()}. */
    public Builder completionOnlyLoss(boolean v) {
      completionOnlyLoss = v;
      return this;
    }

    /** Sets {@link SftConfig#addBos()}. */
    public Builder addBos(boolean v) {
      addBos = v;
      return this;
    }

    /** Sets {@link SftConfig#truncation()}. */
    public Builder truncation(TruncationPolicy v) {
      truncation = checkNotNull(v, "truncation");
      return this;
    }

    /** The configuration; {@link IllegalArgumentException} names the first invalid field. */
    public SftConfig build() {
      TrainingArguments training = buildTraining();
      checkArgument(epochs >= 1, "epochs must be >= 1, got %s", epochs);
      checkArgument(maxSteps >= 0, "maxSteps must be >= 0, got %s", maxSteps);
      checkArgument(maxLength >= 2, "maxLength must be >= 2, got %s", maxLength);
      return new SftConfig(this, training);
    }
  }
}
