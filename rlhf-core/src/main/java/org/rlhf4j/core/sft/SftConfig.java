package org.rlhf4j.core.sft;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Map;
import org.rlhf4j.core.data.TruncationPolicy;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.train.TrainingArguments;

/**
 * The configuration of {@link SftTrainer} (supervised fine-tuning and pre-training), after TRL's
 * {@code SFTConfig}. Immutable; {@link Builder#build()} names an invalid field.
 */
public final class SftConfig {
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

  private final TrainingArguments training;
  private final int epochs;
  private final int maxSteps;
  private final int maxLength;
  private final boolean completionOnlyLoss;
  private final boolean addBos;
  private final TruncationPolicy truncation;

  private SftConfig(Builder b) {
    training = b.training.build();
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
   * The shared training arguments: learning rate and schedule, warm-up, weight decay, clipping,
   * seed, batch size (sequences per step) and evaluation interval.
   */
  public TrainingArguments training() {
    return training;
  }

  /** Peak learning rate ({@link TrainingArguments#learningRate()}). */
  public double learningRate() {
    return training.learningRate();
  }

  /**
   * Learning-rate decay after warm-up.
   *
   * @deprecated use {@code training().schedule()}
   */
  @Deprecated
  public Schedule schedule() {
    return Schedule.valueOf(training.schedule().name());
  }

  /** Linear warm-up steps ({@link TrainingArguments#warmupSteps()}). */
  public int warmupSteps() {
    return training.warmupSteps();
  }

  /** Passes over the data (ignored when {@link #maxSteps()} is set). */
  public int epochs() {
    return epochs;
  }

  /** Optimiser steps to run; 0 means {@code epochs} passes. */
  public int maxSteps() {
    return maxSteps;
  }

  /** Sequences per step ({@link TrainingArguments#batchSize()}). */
  public int batchSize() {
    return training.batchSize();
  }

  /** Longest sequence in tokens (also capped by the model's context). */
  public int maxLength() {
    return maxLength;
  }

  /** AdamW's decoupled weight decay ({@link TrainingArguments#weightDecay()}). */
  public double weightDecay() {
    return training.weightDecay();
  }

  /** Global gradient-norm clipping, 0 = off ({@link TrainingArguments#maxGradNorm()}). */
  public double maxGradNorm() {
    return training.maxGradNorm();
  }

  /** Seed of the data order ({@link TrainingArguments#seed()}). */
  public long seed() {
    return training.seed();
  }

  /** Evaluate every this many steps, 0 = only before and after training ({@link TrainingArguments#evalEvery()}). */
  public int evalEvery() {
    return training.evalEvery();
  }

  /** Train on completion tokens only (prompt tokens get no loss). */
  public boolean completionOnlyLoss() {
    return completionOnlyLoss;
  }

  /** Start every sequence with the tokenizer's BOS. */
  public boolean addBos() {
    return addBos;
  }

  /** The optimiser configuration for {@code totalSteps} steps. */
  public AdamWConfig optimizer(long totalSteps) {
    return training.optimizer(totalSteps);
  }

  /** What happens to an example longer than {@link #maxLength()} (default {@link TruncationPolicy#BALANCED}). */
  public TruncationPolicy truncation() {
    return truncation;
  }

  /** A JSON-friendly description, for checkpoint provenance. */
  public Map<String, Object> toMap() {
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
    m.put("truncation", truncation.name().toLowerCase(java.util.Locale.ROOT));
    return m;
  }

  @Override
  public String toString() {
    return "SftConfig" + toMap();
  }

  /** Builds a validated {@link SftConfig}. */
  public static final class Builder {
    private TrainingArguments.Builder training =
        TrainingArguments.builder().learningRate(2e-5).schedule(TrainingArguments.Schedule.LINEAR).batchSize(8).seed(42);
    private int epochs = 3;
    private int maxSteps;
    private int maxLength = 1024;
    private boolean completionOnlyLoss = true;
    private boolean addBos = true;
    private TruncationPolicy truncation = TruncationPolicy.BALANCED;

    private Builder() {}

    /** Sets {@link SftConfig#learningRate()}. */
    public Builder learningRate(double v) {
      training.learningRate(v);
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
      training.schedule(TrainingArguments.Schedule.valueOf(v.name()));
      return this;
    }

    /** Sets {@link TrainingArguments#schedule()}. */
    public Builder schedule(TrainingArguments.Schedule v) {
      checkArgument(v != null, "schedule must be set");
      training.schedule(v);
      return this;
    }

    /** Replaces all the shared training arguments (the setters above change single ones). */
    public Builder training(TrainingArguments v) {
      training = checkNotNull(v, "training").toBuilder();
      return this;
    }

    /** Sets {@link SftConfig#warmupSteps()}. */
    public Builder warmupSteps(int v) {
      training.warmupSteps(v);
      return this;
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

    /** Sets {@link SftConfig#batchSize()}. */
    public Builder batchSize(int v) {
      training.batchSize(v);
      return this;
    }

    /** Sets {@link SftConfig#maxLength()}. */
    public Builder maxLength(int v) {
      maxLength = v;
      return this;
    }

    /** Sets {@link SftConfig#weightDecay()}. */
    public Builder weightDecay(double v) {
      training.weightDecay(v);
      return this;
    }

    /** Sets {@link SftConfig#maxGradNorm()}. */
    public Builder maxGradNorm(double v) {
      training.maxGradNorm(v);
      return this;
    }

    /** Sets {@link SftConfig#seed()}. */
    public Builder seed(long v) {
      training.seed(v);
      return this;
    }

    /** Sets {@link SftConfig#evalEvery()}. */
    public Builder evalEvery(int v) {
      training.evalEvery(v);
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
      training.build(); // validates the shared arguments
      checkArgument(epochs >= 1, "epochs must be >= 1, got %s", epochs);
      checkArgument(maxSteps >= 0, "maxSteps must be >= 0, got %s", maxSteps);
      checkArgument(maxLength >= 2, "maxLength must be >= 2, got %s", maxLength);
      return new SftConfig(this);
    }
  }
}
