package org.rlhf4j.core.sft;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Map;
import org.rlhf4j.core.data.TruncationPolicy;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.optim.LrSchedule;

/**
 * The configuration of {@link SftTrainer} (supervised fine-tuning and pre-training), after TRL's
 * {@code SFTConfig}. Immutable; {@link Builder#build()} names an invalid field.
 */
public final class SftConfig {
  /** The shape of the learning-rate decay. */
  public enum Schedule {
    CONSTANT,
    LINEAR,
    COSINE
  }

  private final double learningRate;
  private final Schedule schedule;
  private final int warmupSteps;
  private final int epochs;
  private final int maxSteps;
  private final int batchSize;
  private final int maxLength;
  private final double weightDecay;
  private final double maxGradNorm;
  private final long seed;
  private final int evalEvery;
  private final boolean completionOnlyLoss;
  private final boolean addBos;
  private final TruncationPolicy truncation;

  private SftConfig(Builder b) {
    learningRate = b.learningRate;
    schedule = b.schedule;
    warmupSteps = b.warmupSteps;
    epochs = b.epochs;
    maxSteps = b.maxSteps;
    batchSize = b.batchSize;
    maxLength = b.maxLength;
    weightDecay = b.weightDecay;
    maxGradNorm = b.maxGradNorm;
    seed = b.seed;
    evalEvery = b.evalEvery;
    completionOnlyLoss = b.completionOnlyLoss;
    addBos = b.addBos;
    truncation = b.truncation;
  }

  /** TRL's defaults: lr 2e-5, linear decay, 3 epochs, batch 8, max length 1024, seed 42. */
  public static Builder builder() {
    return new Builder();
  }

  /** Peak learning rate. */
  public double learningRate() {
    return learningRate;
  }

  /** Learning-rate decay after warm-up. */
  public Schedule schedule() {
    return schedule;
  }

  /** Linear warm-up steps. */
  public int warmupSteps() {
    return warmupSteps;
  }

  /** Passes over the data (ignored when {@link #maxSteps()} is set). */
  public int epochs() {
    return epochs;
  }

  /** Optimiser steps to run; 0 means {@code epochs} passes. */
  public int maxSteps() {
    return maxSteps;
  }

  /** Sequences per step. */
  public int batchSize() {
    return batchSize;
  }

  /** Longest sequence in tokens (also capped by the model's context). */
  public int maxLength() {
    return maxLength;
  }

  /** AdamW's decoupled weight decay. */
  public double weightDecay() {
    return weightDecay;
  }

  /** Global gradient-norm clipping (0 = off). */
  public double maxGradNorm() {
    return maxGradNorm;
  }

  /** Seed of the data order. */
  public long seed() {
    return seed;
  }

  /** Evaluate every this many steps (0 = only before and after training). */
  public int evalEvery() {
    return evalEvery;
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
    LrSchedule s =
        switch (schedule) {
          case CONSTANT -> LrSchedule.constantWithWarmup(learningRate, warmupSteps);
          case LINEAR -> LrSchedule.linear(learningRate, warmupSteps, totalSteps);
          case COSINE -> LrSchedule.cosine(learningRate, warmupSteps, totalSteps, 0.1);
        };
    return AdamWConfig.builder().schedule(s).weightDecay(weightDecay).maxGradNorm(maxGradNorm).build();
  }

  /** What happens to an example longer than {@link #maxLength()} (default {@link TruncationPolicy#BALANCED}). */
  public TruncationPolicy truncation() {
    return truncation;
  }

  /** A JSON-friendly description, for checkpoint provenance. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("learning_rate", learningRate);
    m.put("lr_scheduler_type", schedule.name().toLowerCase(java.util.Locale.ROOT));
    m.put("warmup_steps", warmupSteps);
    m.put("num_train_epochs", epochs);
    m.put("max_steps", maxSteps);
    m.put("per_device_train_batch_size", batchSize);
    m.put("max_length", maxLength);
    m.put("weight_decay", weightDecay);
    m.put("max_grad_norm", maxGradNorm);
    m.put("seed", seed);
    m.put("eval_steps", evalEvery);
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
    private double learningRate = 2e-5;
    private Schedule schedule = Schedule.LINEAR;
    private int warmupSteps;
    private int epochs = 3;
    private int maxSteps;
    private int batchSize = 8;
    private int maxLength = 1024;
    private double weightDecay;
    private double maxGradNorm = 1.0;
    private long seed = 42;
    private int evalEvery;
    private boolean completionOnlyLoss = true;
    private boolean addBos = true;
    private TruncationPolicy truncation = TruncationPolicy.BALANCED;

    private Builder() {}

    /** Sets {@link SftConfig#learningRate()}. */
    public Builder learningRate(double v) {
      learningRate = v;
      return this;
    }

    /** Sets {@link SftConfig#schedule()}. */
    public Builder schedule(Schedule v) {
      schedule = v;
      return this;
    }

    /** Sets {@link SftConfig#warmupSteps()}. */
    public Builder warmupSteps(int v) {
      warmupSteps = v;
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
      batchSize = v;
      return this;
    }

    /** Sets {@link SftConfig#maxLength()}. */
    public Builder maxLength(int v) {
      maxLength = v;
      return this;
    }

    /** Sets {@link SftConfig#weightDecay()}. */
    public Builder weightDecay(double v) {
      weightDecay = v;
      return this;
    }

    /** Sets {@link SftConfig#maxGradNorm()}. */
    public Builder maxGradNorm(double v) {
      maxGradNorm = v;
      return this;
    }

    /** Sets {@link SftConfig#seed()}. */
    public Builder seed(long v) {
      seed = v;
      return this;
    }

    /** Sets {@link SftConfig#evalEvery()}. */
    public Builder evalEvery(int v) {
      evalEvery = v;
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
      checkArgument(learningRate > 0 && Double.isFinite(learningRate), "learningRate must be positive, got %s", learningRate);
      checkArgument(schedule != null, "schedule must be set");
      checkArgument(warmupSteps >= 0, "warmupSteps must be >= 0, got %s", warmupSteps);
      checkArgument(epochs >= 1, "epochs must be >= 1, got %s", epochs);
      checkArgument(maxSteps >= 0, "maxSteps must be >= 0, got %s", maxSteps);
      checkArgument(batchSize >= 1, "batchSize must be >= 1, got %s", batchSize);
      checkArgument(maxLength >= 2, "maxLength must be >= 2, got %s", maxLength);
      checkArgument(weightDecay >= 0, "weightDecay must be >= 0, got %s", weightDecay);
      checkArgument(maxGradNorm >= 0, "maxGradNorm must be >= 0, got %s", maxGradNorm);
      checkArgument(evalEvery >= 0, "evalEvery must be >= 0, got %s", evalEvery);
      return new SftConfig(this);
    }
  }
}
