package org.rlhf4j.reward.dpo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.optim.LrSchedule;
import org.rlhf4j.core.train.SequenceLogProbs;

/**
 * The configuration of {@link DpoTrainer}, after TRL's {@code DPOConfig}. Immutable; {@link
 * Builder#build()} names an invalid field and its value.
 */
public final class DpoConfig {
  private final double beta;
  private final DpoLoss.Type lossType;
  private final double labelSmoothing;
  private final SequenceLogProbs.Reduction reduction;
  private final double learningRate;
  private final int warmupSteps;
  private final int epochs;
  private final int maxSteps;
  private final int promptsPerBatch;
  private final int maxLength;
  private final long seed;
  private final double weightDecay;
  private final double maxGradNorm;
  private final boolean addBos;
  private final boolean appendEos;
  private final int evalEvery;

  private DpoConfig(Builder b, SequenceLogProbs.Reduction reduction) {
    beta = b.beta;
    lossType = b.lossType;
    labelSmoothing = b.labelSmoothing;
    this.reduction = reduction;
    learningRate = b.learningRate;
    warmupSteps = b.warmupSteps;
    epochs = b.epochs;
    maxSteps = b.maxSteps;
    promptsPerBatch = b.promptsPerBatch;
    maxLength = b.maxLength;
    seed = b.seed;
    weightDecay = b.weightDecay;
    maxGradNorm = b.maxGradNorm;
    addBos = b.addBos;
    appendEos = b.appendEos;
    evalEvery = b.evalEvery;
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

  /** Peak learning rate (linear decay to 0 after warm-up). */
  public double learningRate() {
    return learningRate;
  }

  /** Linear warm-up steps. */
  public int warmupSteps() {
    return warmupSteps;
  }

  /** Passes over the training rankings (ignored when {@link #maxSteps()} is set). */
  public int epochs() {
    return epochs;
  }

  /** Optimiser steps to take; 0 = {@link #epochs()} passes. */
  public int maxSteps() {
    return maxSteps;
  }

  /** Rankings per batch; all C(K,2) pairs of a ranking share its batch. */
  public int promptsPerBatch() {
    return promptsPerBatch;
  }

  /** Longest (prompt + response) in tokens; longer records are an error naming them. */
  public int maxLength() {
    return maxLength;
  }

  /** Seed of the data order. */
  public long seed() {
    return seed;
  }

  /** AdamW's decoupled weight decay. */
  public double weightDecay() {
    return weightDecay;
  }

  /** Global gradient-norm clipping (0 = off). */
  public double maxGradNorm() {
    return maxGradNorm;
  }

  /** Start every sequence with BOS. */
  public boolean addBos() {
    return addBos;
  }

  /** End every response with EOS (a target token). */
  public boolean appendEos() {
    return appendEos;
  }

  /** Evaluate every this many steps (0 = before and after training only). */
  public int evalEvery() {
    return evalEvery;
  }

  /** The optimiser for {@code totalSteps} steps. */
  public AdamWConfig optimizer(long totalSteps) {
    return AdamWConfig.builder()
        .schedule(LrSchedule.linear(learningRate, warmupSteps, totalSteps))
        .weightDecay(weightDecay)
        .maxGradNorm(maxGradNorm)
        .build();
  }

  /** A JSON-friendly description with TRL's field names, for provenance. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("beta", beta);
    m.put("loss_type", lossType.name().toLowerCase(Locale.ROOT));
    m.put("label_smoothing", labelSmoothing);
    m.put("logps_reduction", reduction.name().toLowerCase(Locale.ROOT));
    m.put("learning_rate", learningRate);
    m.put("warmup_steps", warmupSteps);
    m.put("num_train_epochs", epochs);
    m.put("max_steps", maxSteps);
    m.put("prompts_per_batch", promptsPerBatch);
    m.put("max_length", maxLength);
    m.put("seed", seed);
    m.put("weight_decay", weightDecay);
    m.put("max_grad_norm", maxGradNorm);
    m.put("add_bos", addBos);
    m.put("append_eos", appendEos);
    m.put("eval_steps", evalEvery);
    return m;
  }

  @Override
  public String toString() {
    return "DpoConfig" + toMap();
  }

  /** Builds a validated {@link DpoConfig}. */
  public static final class Builder {
    private double beta = 0.1;
    private DpoLoss.Type lossType = DpoLoss.Type.SIGMOID;
    private double labelSmoothing;
    private SequenceLogProbs.Reduction reduction;
    private double learningRate = 1e-6;
    private int warmupSteps;
    private int epochs = 1;
    private int maxSteps;
    private int promptsPerBatch = 8;
    private int maxLength = 1024;
    private long seed = 42;
    private double weightDecay;
    private double maxGradNorm = 1.0;
    private boolean addBos = true;
    private boolean appendEos = true;
    private int evalEvery;

    private Builder() {}

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

    /** Sets {@link DpoConfig#learningRate()}. */
    public Builder learningRate(double v) {
      learningRate = v;
      return this;
    }

    /** Sets {@link DpoConfig#warmupSteps()}. */
    public Builder warmupSteps(int v) {
      warmupSteps = v;
      return this;
    }

    /** Sets {@link DpoConfig#epochs()}. */
    public Builder epochs(int v) {
      epochs = v;
      return this;
    }

    /** Sets {@link DpoConfig#maxSteps()}. */
    public Builder maxSteps(int v) {
      maxSteps = v;
      return this;
    }

    /** Sets {@link DpoConfig#promptsPerBatch()}. */
    public Builder promptsPerBatch(int v) {
      promptsPerBatch = v;
      return this;
    }

    /** Sets {@link DpoConfig#maxLength()}. */
    public Builder maxLength(int v) {
      maxLength = v;
      return this;
    }

    /** Sets {@link DpoConfig#seed()}. */
    public Builder seed(long v) {
      seed = v;
      return this;
    }

    /** Sets {@link DpoConfig#weightDecay()}. */
    public Builder weightDecay(double v) {
      weightDecay = v;
      return this;
    }

    /** Sets {@link DpoConfig#maxGradNorm()}. */
    public Builder maxGradNorm(double v) {
      maxGradNorm = v;
      return this;
    }

    /** Sets {@link DpoConfig#addBos()}. */
    public Builder addBos(boolean v) {
      addBos = v;
      return this;
    }

    /** Sets {@link DpoConfig#appendEos()}. */
    public Builder appendEos(boolean v) {
      appendEos = v;
      return this;
    }

    /** Sets {@link DpoConfig#evalEvery()}. */
    public Builder evalEvery(int v) {
      evalEvery = v;
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
      checkArgument(learningRate > 0 && Double.isFinite(learningRate), "learningRate must be positive, got %s", learningRate);
      checkArgument(warmupSteps >= 0, "warmupSteps must be >= 0, got %s", warmupSteps);
      checkArgument(epochs >= 1, "epochs must be >= 1, got %s", epochs);
      checkArgument(maxSteps >= 0, "maxSteps must be >= 0, got %s", maxSteps);
      checkArgument(promptsPerBatch >= 1, "promptsPerBatch must be >= 1, got %s", promptsPerBatch);
      checkArgument(maxLength >= 2, "maxLength must be >= 2, got %s", maxLength);
      checkArgument(weightDecay >= 0 && Double.isFinite(weightDecay), "weightDecay must be >= 0, got %s", weightDecay);
      checkArgument(maxGradNorm >= 0 && Double.isFinite(maxGradNorm), "maxGradNorm must be >= 0, got %s", maxGradNorm);
      checkArgument(evalEvery >= 0, "evalEvery must be >= 0, got %s", evalEvery);
      SequenceLogProbs.Reduction r =
          reduction != null ? reduction : lossType == DpoLoss.Type.IPO ? SequenceLogProbs.Reduction.MEAN : SequenceLogProbs.Reduction.SUM;
      return new DpoConfig(this, r);
    }
  }
}
