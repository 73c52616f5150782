package org.rlhf4j.reward.dpo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.rlhf4j.core.train.SequenceLogProbs;
import org.rlhf4j.core.train.SupervisedConfig;
import org.rlhf4j.core.train.TrainingArguments;

/**
 * The configuration of {@link DpoTrainer}, after TRL's {@code DPOConfig}: the DPO settings and the
 * shared {@link TrainingArguments} (learning rate and schedule, warm-up, weight decay, clipping,
 * seed, rankings per batch, evaluation interval), as in the SFT and reward-model configurations.
 * Immutable; {@link Builder#build()} names an invalid field and its value.
 */
public final class DpoConfig extends SupervisedConfig {
  private final double beta;
  private final DpoLoss.Type lossType;
  private final double labelSmoothing;
  private final SequenceLogProbs.Reduction reduction;
  private final int maxSteps;
  private final boolean appendEos;

  private DpoConfig(Builder b, TrainingArguments training, SequenceLogProbs.Reduction reduction) {
    super(training, b);
    beta = b.beta;
    lossType = b.lossType;
    labelSmoothing = b.labelSmoothing;
    this.reduction = reduction;
    maxSteps = b.maxSteps;
    appendEos = b.appendEos;
  }

  /**
   * Defaults (TRL's where it has one): β 0.1, sigmoid loss, no label smoothing, lr 1e-6 with
   * linear decay, 1 epoch, 8 rankings per batch, seed 42, gradient clipping at 1.
   */
  public static Builder builder() {
    return new Builder();
  }

  /** β: the strength of the implicit KL penalty to the reference (TRL's {@code beta}). */
  public double beta() {
    return beta;
  }

  /** The loss variant (TRL's {@code loss_type}: sigmoid or ipo). */
  public DpoLoss.Type lossType() {
    return lossType;
  }

  /** cDPO's ε, the assumed probability that a label is flipped (TRL's {@code label_smoothing}). */
  public double labelSmoothing() {
    return labelSmoothing;
  }

  /**
   * How token log-probabilities are combined per response: summed for DPO, averaged for IPO unless
   * set explicitly (as TRL does).
   */
  public SequenceLogProbs.Reduction reduction() {
    return reduction;
  }

  /** Optimiser steps to take; 0 = {@link #epochs()} passes. */
  public int maxSteps() {
    return maxSteps;
  }

  /** Rankings per batch; all C(K,2) pairs of a ranking share its batch. */
  public int promptsPerBatch() {
    return batchSize();
  }

  /** End every response with EOS (a target token). */
  public boolean appendEos() {
    return appendEos;
  }

  /** A JSON-friendly description with TRL's field names, for provenance. */
  public Map<String, Object> toMap() {
    TrainingArguments training = training();
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("beta", beta);
    m.put("loss_type", lossType.name().toLowerCase(Locale.ROOT));
    m.put("label_smoothing", labelSmoothing);
    m.put("logps_reduction", reduction.name().toLowerCase(Locale.ROOT));
    m.put("learning_rate", training.learningRate());
    if (training.schedule() != TrainingArguments.Schedule.LINEAR) {
      m.put("lr_scheduler_type", training.scheduleName()); // absent for the default, as before it was settable
    }
    m.put("warmup_steps", training.warmupSteps());
    m.put("num_train_epochs", epochs());
    m.put("max_steps", maxSteps);
    m.put("prompts_per_batch", training.batchSize());
    m.put("max_length", maxLength());
    m.put("seed", training.seed());
    m.put("weight_decay", training.weightDecay());
    m.put("max_grad_norm", training.maxGradNorm());
    m.put("add_bos", addBos());
    m.put("append_eos", appendEos);
    m.put("eval_steps", training.evalEvery());
    return m;
  }

  @Override
  public String toString() {
    return "DpoConfig" + toMap();
  }

  /** Builds a validated {@link DpoConfig}. */
  public static final class Builder extends SupervisedConfig.Builder<Builder> {
    private double beta = 0.1;
    private DpoLoss.Type lossType = DpoLoss.Type.SIGMOID;
    private double labelSmoothing;
    private SequenceLogProbs.Reduction reduction;
    private int maxSteps;
    private boolean appendEos = true;

    private Builder() {
      super(TrainingArguments.builder().learningRate(1e-6).schedule(TrainingArguments.Schedule.LINEAR).batchSize(8).seed(42).maxGradNorm(1.0),
          "promptsPerBatch", 1);
    }

    @Override
    protected Builder self() {
      return this;
    }

    /** Sets {@link DpoConfig#beta()}. */
    public Builder beta(double v) {
      beta = v;
      return this;
    }

    /** Sets {@link DpoConfig#lossType()}. */
    public Builder lossType(DpoLoss.Type v) {
      lossType = checkNotNull(v, "lossType");
      return this;
    }

    /** Sets {@link DpoConfig#labelSmoothing()}. */
    public Builder labelSmoothing(double v) {
      labelSmoothing = v;
      return this;
    }

    /** Sets {@link DpoConfig#reduction()} (default: SUM for sigmoid, MEAN for IPO). */
    public Builder reduction(SequenceLogProbs.Reduction v) {
      reduction = checkNotNull(v, "reduction");
      return this;
    }

    /** Sets {@link DpoConfig#maxSteps()}. */
    public Builder maxSteps(int v) {
      maxSteps = v;
      return this;
    }

    /** Sets {@link DpoConfig#promptsPerBatch()}. */
    public Builder promptsPerBatch(int v) {
      return batchSize(v);
    }

    /** Sets {@link DpoConfig#appendEos()}. */
    public Builder appendEos(boolean v) {
      appendEos = v;
      return this;
    }

    /** The configuration; {@link IllegalArgumentException} names the first invalid field. */
    public DpoConfig build() {
      checkArgument(beta > 0 && Double.isFinite(beta), "beta must be positive and finite, got %s", beta);
      checkArgument(
          labelSmoothing >= 0 && labelSmoothing < 0.5, "labelSmoothing must be in [0, 0.5), got %s", labelSmoothing);
      checkArgument(
          lossType == DpoLoss.Type.SIGMOID || labelSmoothing == 0,
          "labelSmoothing applies to the SIGMOID loss only, got %s with lossType %s",
          labelSmoothing,
          lossType);
      TrainingArguments training = buildSupervised();
      checkArgument(maxSteps >= 0, "maxSteps must be >= 0, got %s", maxSteps);
      SequenceLogProbs.Reduction r =
          reduction != null ? reduction : lossType == DpoLoss.Type.IPO ? SequenceLogProbs.Reduction.MEAN : SequenceLogProbs.Reduction.SUM;
      return new DpoConfig(this, training, r);
    }
  }
}
