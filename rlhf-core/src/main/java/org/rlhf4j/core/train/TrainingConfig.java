package org.rlhf4j.core.train;

import static com.google.common.base.Preconditions.checkNotNull;

import org.rlhf4j.core.optim.AdamWConfig;

/**
 * The shared base of the trainers' configurations that embed {@link TrainingArguments} (SFT, reward
 * model, DPO): the accessors of the shared settings, and a {@link Builder} with their setters, so
 * that each configuration declares only its own settings. Every subclass is immutable.
 */
public abstract class TrainingConfig {
  private final TrainingArguments training;

  /** A configuration over {@code training}. */
  protected TrainingConfig(TrainingArguments training) {
    this.training = checkNotNull(training, "training");
  }

  /**
   * The shared training arguments: learning rate and schedule (constant, linear or cosine, after a
   * linear warm-up), weight decay, clipping, seed, batch size and evaluation interval.
   */
  public final TrainingArguments training() {
    return training;
  }

  /** Peak learning rate ({@link TrainingArguments#learningRate()}). */
  public final double learningRate() {
    return training.learningRate();
  }

  /** Linear warm-up steps ({@link TrainingArguments#warmupSteps()}). */
  public final int warmupSteps() {
    return training.warmupSteps();
  }

  /** Items per optimiser step ({@link TrainingArguments#batchSize()}; what an item is, the trainer says). */
  public final int batchSize() {
    return training.batchSize();
  }

  /** AdamW's decoupled weight decay ({@link TrainingArguments#weightDecay()}). */
  public final double weightDecay() {
    return training.weightDecay();
  }

  /** Global gradient-norm clipping, 0 = off ({@link TrainingArguments#maxGradNorm()}). */
  public final double maxGradNorm() {
    return training.maxGradNorm();
  }

  /** Seed of the run's random choices ({@link TrainingArguments#seed()}). */
  public final long seed() {
    return training.seed();
  }

  /** Evaluate every this many steps, 0 = only before and after training ({@link TrainingArguments#evalEvery()}). */
  public final int evalEvery() {
    return training.evalEvery();
  }

  /** AdamW with the schedule over {@code totalSteps} optimiser steps, the weight decay and the clipping. */
  public AdamWConfig optimizer(long totalSteps) {
    return training.optimizer(totalSteps);
  }

  /**
   * The setters of the shared settings, returning the concrete builder {@code B}.
   *
   * @param <B> the concrete builder
   */
  public abstract static class Builder<B extends Builder<B>> {
    private TrainingArguments.Builder training;
    private final String batchName;

    /**
     * A builder starting from {@code defaults}; {@code batchName} is the batch size's name in this
     * configuration's error messages (e.g. {@code promptsPerBatch}).
     */
    protected Builder(TrainingArguments.Builder defaults, String batchName) {
      this.training = checkNotNull(defaults, "defaults");
      this.batchName = checkNotNull(batchName, "batchName");
    }

    /** This builder, as its concrete type. */
    protected abstract B self();

    /** Sets {@link TrainingConfig#learningRate()}. */
    public B learningRate(double v) {
      training.learningRate(v);
      return self();
    }

    /** Sets the learning-rate schedule after warm-up ({@link TrainingArguments#schedule()}). */
    public B schedule(TrainingArguments.Schedule v) {
      training.schedule(checkNotNull(v, "schedule must be set"));
      return self();
    }

    /** Sets {@link TrainingConfig#warmupSteps()}. */
    public B warmupSteps(int v) {
      training.warmupSteps(v);
      return self();
    }

    /** Sets {@link TrainingConfig#batchSize()}. */
    public B batchSize(int v) {
      training.batchSize(v);
      return self();
    }

    /** Sets {@link TrainingConfig#weightDecay()}. */
    public B weightDecay(double v) {
      training.weightDecay(v);
      return self();
    }

    /** Sets {@link TrainingConfig#maxGradNorm()}. */
    public B maxGradNorm(double v) {
      training.maxGradNorm(v);
      return self();
    }

    /** Sets {@link TrainingConfig#seed()}. */
    public B seed(long v) {
      training.seed(v);
      return self();
    }

    /** Sets {@link TrainingConfig#evalEvery()}. */
    public B evalEvery(int v) {
      training.evalEvery(v);
      return self();
    }

    /** Replaces all the shared training arguments (the setters above change single ones). */
    public B training(TrainingArguments v) {
      training = checkNotNull(v, "training").toBuilder();
      return self();
    }

    /**
     * The validated shared arguments; {@link IllegalArgumentException} names the first invalid field
     * (the batch size by this configuration's name for it).
     */
    protected final TrainingArguments buildTraining() {
      try {
        return training.build();
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(e.getMessage().replace("batchSize", batchName), e);
      }
    }
  }
}
