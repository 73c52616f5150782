package org.rlhf4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.optim.LrSchedule;

/**
 * The training settings every trainer shares, after Hugging Face's {@code TrainingArguments}: peak
 * learning rate, its schedule (constant, linear or cosine decay, each after a linear warm-up,
 * counted in optimiser steps), AdamW's decoupled weight decay, global gradient-norm clipping, the
 * seed, the batch size and the evaluation interval. Embedded in {@code SftConfig}, {@code
 * RewardConfig} and {@code PpoConfig} (each keeps builder setters that delegate here and its own
 * defaults); {@link #putInto} writes the TRL names into a configuration's {@code toMap()}.
 * Immutable; {@link Builder#build()} names an invalid field.
 */
public final class TrainingArguments {
  /** The shape of the learning rate after warm-up (Hugging Face's {@code lr_scheduler_type}). */
  public enum Schedule {
    /** The peak rate after warm-up. */
    CONSTANT,
    /** Linear decay to 0 at the last step. */
    LINEAR,
    /** Cosine decay to {@link #COSINE_MIN_RATIO} of the peak at the last step. */
    COSINE
  }

  /** The floor of the cosine schedule, as a fraction of the peak rate. */
  public static final double COSINE_MIN_RATIO = 0.1;

  private final double learningRate;
  private final Schedule schedule;
  private final int warmupSteps;
  private final double weightDecay;
  private final double maxGradNorm;
  private final long seed;
  private final int batchSize;
  private final int evalEvery;

  private TrainingArguments(Builder b) {
    learningRate = b.learningRate;
    schedule = b.schedule;
    warmupSteps = b.warmupSteps;
    weightDecay = b.weightDecay;
    maxGradNorm = b.maxGradNorm;
    seed = b.seed;
    batchSize = b.batchSize;
    evalEvery = b.evalEvery;
  }

  /** Defaults: lr 2e-5, linear decay, no warm-up, no weight decay, clipping at 1.0, seed 42, batch 8, no intermediate evaluation. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from these arguments. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.learningRate = learningRate;
    b.schedule = schedule;
    b.warmupSteps = warmupSteps;
    b.weightDecay = weightDecay;
    b.maxGradNorm = maxGradNorm;
    b.seed = seed;
    b.batchSize = batchSize;
    b.evalEvery = evalEvery;
    return b;
  }

  /** Peak learning rate. */
  public double learningRate() {
    return learningRate;
  }

  /** The learning-rate shape after warm-up. */
  public Schedule schedule() {
    return schedule;
  }

  /** Linear warm-up steps (optimiser steps). */
  public int warmupSteps() {
    return warmupSteps;
  }

  /** AdamW's decoupled weight decay. */
  public double weightDecay() {
    return weightDecay;
  }

  /** Global gradient-norm clipping (0 = off). */
  public double maxGradNorm() {
    return maxGradNorm;
  }

  /** The seed of the run's random choices (data order, sampling). */
  public long seed() {
    return seed;
  }

  /** Items per step (sequences, rankings or rollouts, as the trainer documents). */
  public int batchSize() {
    return batchSize;
  }

  /** Evaluate every this many steps (0 = only before and after training). */
  public int evalEvery() {
    return evalEvery;
  }

  /** The learning rate per optimiser step for a run of {@code totalSteps} optimiser steps. */
  public LrSchedule lrSchedule(long totalSteps) {
    return switch (schedule) {
      case CONSTANT -> LrSchedule.constantWithWarmup(learningRate, warmupSteps);
      case LINEAR -> LrSchedule.linear(learningRate, warmupSteps, totalSteps);
      case COSINE -> LrSchedule.cosine(learningRate, warmupSteps, totalSteps, COSINE_MIN_RATIO);
    };
  }

  /** AdamW with {@link #lrSchedule}, the weight decay and the clipping (other settings PyTorch's defaults). */
  public AdamWConfig optimizer(long totalSteps) {
    return optimizer(totalSteps, 1e-8);
  }

  /** As {@link #optimizer(long)} with Adam's {@code eps}. */
  public AdamWConfig optimizer(long totalSteps, double eps) {
    return AdamWConfig.builder().schedule(lrSchedule(totalSteps)).weightDecay(weightDecay).maxGradNorm(maxGradNorm).eps(eps).build();
  }

  /** The name of {@link #schedule()} in Hugging Face's terms ({@code constant}, {@code linear}, {@code cosine}). */
  public String scheduleName() {
    return schedule.name().toLowerCase(Locale.ROOT);
  }

  /**
   * Writes these arguments into a configuration's map under the TRL names: {@code learning_rate},
   * {@code lr_scheduler_type}, {@code warmup_steps}, {@code weight_decay}, {@code max_grad_norm},
   * {@code seed}, {@code batchKey} (each trainer's TRL name for its batch size, e.g. {@code
   * per_device_train_batch_size}) and {@code eval_steps}.
   */
  public void putInto(Map<String, Object> m, String batchKey) {
    m.put("learning_rate", learningRate);
    m.put("lr_scheduler_type", scheduleName());
    m.put("warmup_steps", warmupSteps);
    m.put(batchKey, batchSize);
    m.put("weight_decay", weightDecay);
    m.put("max_grad_norm", maxGradNorm);
    m.put("seed", seed);
    m.put("eval_steps", evalEvery);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TrainingArguments t
        && Double.compare(learningRate, t.learningRate) == 0
        && schedule == t.schedule
        && warmupSteps == t.warmupSteps
        && Double.compare(weightDecay, t.weightDecay) == 0
        && Double.compare(maxGradNorm, t.maxGradNorm) == 0
        && seed == t.seed
        && batchSize == t.batchSize
        && evalEvery == t.evalEvery;
  }

  @Override
  public int hashCode() {
    return Objects.hash(learningRate, schedule, warmupSteps, weightDecay, maxGradNorm, seed, batchSize, evalEvery);
  }

  @Override
  public String toString() {
    Map<String, Object> m = new LinkedHashMap<>();
    putInto(m, "batch_size");
    return "TrainingArguments" + m;
  }

  /** Builds validated {@link TrainingArguments}. */
  public static final class Builder {
    private double learningRate = 2e-5;
    private Schedule schedule = Schedule.LINEAR;
    private int warmupSteps;
    private double weightDecay;
    private double maxGradNorm = 1.0;
    private long seed = 42;
    private int batchSize = 8;
    private int evalEvery;

    private Builder() {}

    /** Sets {@link TrainingArguments#learningRate()}. */
    public Builder learningRate(double v) {
      learningRate = v;
      return this;
    }

    /** Sets {@link TrainingArguments#schedule()}. */
    public Builder schedule(Schedule v) {
      schedule = checkNotNull(v, "schedule");
      return this;
    }

    /** Sets {@link TrainingArguments#warmupSteps()}. */
    public Builder warmupSteps(int v) {
      warmupSteps = v;
      return this;
    }

    /** Sets {@link TrainingArguments#weightDecay()}. */
    public Builder weightDecay(double v) {
      weightDecay = v;
      return this;
    }

    /** Sets {@link TrainingArguments#maxGradNorm()}. */
    public Builder maxGradNorm(double v) {
      maxGradNorm = v;
      return this;
    }

    /** Sets {@link TrainingArguments#seed()}. */
    public Builder seed(long v) {
      seed = v;
      return this;
    }

    /** Sets {@link TrainingArguments#batchSize()}. */
    public Builder batchSize(int v) {
      batchSize = v;
      return this;
    }

    /** Sets {@link TrainingArguments#evalEvery()}. */
    public Builder evalEvery(int v) {
      evalEvery = v;
      return this;
    }

    /** The arguments; {@link IllegalArgumentException} names the first invalid field. */
    public TrainingArguments build() {
      checkArgument(learningRate > 0 && Double.isFinite(learningRate), "learningRate must be positive, got %s", learningRate);
      checkArgument(warmupSteps >= 0, "warmupSteps must be >= 0, got %s", warmupSteps);
      checkArgument(weightDecay >= 0 && Double.isFinite(weightDecay), "weightDecay must be >= 0, got %s", weightDecay);
      checkArgument(maxGradNorm >= 0 && Double.isFinite(maxGradNorm), "maxGradNorm must be >= 0, got %s", maxGradNorm);
      checkArgument(batchSize >= 1, "batchSize must be >= 1, got %s", batchSize);
      checkArgument(evalEvery >= 0, "evalEvery must be >= 0, got %s", evalEvery);
      return new TrainingArguments(this);
    }
  }
}
