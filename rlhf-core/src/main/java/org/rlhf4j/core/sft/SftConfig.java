package org.rlhf4j.core.sft;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.rlhf4j.core.data.TruncationPolicy;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.train.SupervisedConfig;
import org.rlhf4j.core.train.TrainingArguments;

/**
 * The configuration of {@link SftTrainer} (supervised fine-tuning and pre-training), after TRL's
 * {@code SFTConfig}. Immutable; {@link Builder#build()} names an invalid field.
 */
public final class SftConfig extends SupervisedConfig {
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

  private final int maxSteps;
  private final boolean completionOnlyLoss;
  private final TruncationPolicy truncation;

  private SftConfig(Builder b, TrainingArguments training) {
    super(training, b);
    maxSteps = b.maxSteps;
    completionOnlyLoss = b.completionOnlyLoss;
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

  /** Optimiser steps to run; 0 means {@code epochs} passes. */
  public int maxSteps() {
    return maxSteps;
  }

  /** Train on completion tokens only (prompt tokens get no loss). */
  public boolean completionOnlyLoss() {
    return completionOnlyLoss;
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
    m.put("num_train_epochs", epochs());
    m.put("max_steps", maxSteps);
    m.put("per_device_train_batch_size", training.batchSize());
    m.put("max_length", maxLength());
    m.put("weight_decay", training.weightDecay());
    m.put("max_grad_norm", training.maxGradNorm());
    m.put("seed", training.seed());
    m.put("eval_steps", training.evalEvery());
    m.put("completion_only_loss", completionOnlyLoss);
    m.put("add_bos", addBos());
    m.put("truncation", truncation.name().toLowerCase(Locale.ROOT));
    return m;
  }

  @Override
  public String toString() {
    return "SftConfig" + toMap();
  }

  /** Builds a validated {@link SftConfig}. */
  public static final class Builder extends SupervisedConfig.Builder<Builder> {
    private int maxSteps;
    private boolean completionOnlyLoss = true;
    private TruncationPolicy truncation = TruncationPolicy.BALANCED;

    private Builder() {
      super(TrainingArguments.builder().learningRate(2e-5).schedule(TrainingArguments.Schedule.LINEAR).batchSize(8).seed(42), "batchSize", 3);
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

    /** Sets {@link SftConfig#maxSteps()}. */
    public Builder maxSteps(int v) {
      maxSteps = v;
      return this;
    }

    /** Sets {@link SftConfig#completionOnlyLoss()}. */
    public Builder completionOnlyLoss(boolean v) {
      completionOnlyLoss = v;
      return this;
    }

    /** Sets {@link SftConfig#truncation()}. */
    public Builder truncation(TruncationPolicy v) {
      truncation = checkNotNull(v, "truncation");
      return this;
    }

    /** The configuration; {@link IllegalArgumentException} names the first invalid field. */
    public SftConfig build() {
      TrainingArguments training = buildSupervised();
      checkArgument(maxSteps >= 0, "maxSteps must be >= 0, got %s", maxSteps);
      return new SftConfig(this, training);
    }
  }
}
