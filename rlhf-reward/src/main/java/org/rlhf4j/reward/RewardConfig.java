package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Map;
import org.rlhf4j.core.data.TruncationPolicy;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.optim.LrSchedule;

/**
 * The configuration of {@link RewardTrainer}, after TRL's {@code RewardConfig}. Immutable; {@link
 * Builder#build()} names an invalid field.
 */
public final class RewardConfig {
  private final double learningRate;
  private final int warmupSteps;
  private final int epochs;
  private final int promptsPerBatch;
  private final long seed;
  private final double margin;
  private final double centerRewardsCoefficient;
  private final int maxLength;
  private final double evalFraction;
  private final double weightDecay;
  private final double maxGradNorm;
  private final boolean addBos;
  private final boolean appendEos;
  private final TruncationPolicy truncation;
  private final int evalEvery;

  private RewardConfig(Builder b) {
    learningRate = b.learningRate;
    warmupSteps = b.warmupSteps;
    epochs = b.epochs;
    promptsPerBatch = b.promptsPerBatch;
    seed = b.seed;
    margin = b.margin;
    centerRewardsCoefficient = b.centerRewardsCoefficient;
    maxLength = b.maxLength;
    evalFraction = b.evalFraction;
    weightDecay = b.weightDecay;
    maxGradNorm = b.maxGradNorm;
    addBos = b.addBos;
    appendEos = b.appendEos;
    truncation = b.truncation;
    evalEvery = b.evalEvery;
  }

  /** Defaults: lr 1e-5 with linear decay, 1 epoch, 8 prompts per batch, seed 42, no margin or centring. */
  public static Builder builder() {
    return new Builder();
  }

  /** Peak learning rate (linear decay to 0). */
  public double learningRate() {
    return learningRate;
  }

  /** Linear warm-up steps. */
  public int warmupSteps() {
    return warmupSteps;
  }

  /** Passes over the training rankings. */
  public int epochs() {
    return epochs;
  }

  /** Rankings per batch; all C(K,2) pairs of a ranking share its batch. */
  public int promptsPerBatch() {
    return promptsPerBatch;
  }

  /** Seed of the data order and of the train/eval split. */
  public long seed() {
    return seed;
  }

  /** Subtracted from every reward difference in the loss. */
  public double margin() {
    return margin;
  }

  /** Coefficient of the centring term {@code mean((r_w + r_l)^2)} (TRL's {@code center_rewards_coefficient}). */
  public double centerRewardsCoefficient() {
    return centerRewardsCoefficient;
  }

  /** Longest (prompt + response) in tokens; longer records are an error naming them. */
  public int maxLength() {
    return maxLength;
  }

  /** Fraction of the rankings held out for evaluation when no eval set is given (0 = none). */
  public double evalFraction() {
    return evalFraction;
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

  /** End every response with EOS. */
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

  /** What happens to a ranking with a (prompt + response) longer than the maximum length (default {@link TruncationPolicy#FAIL}: an error naming the record). */
  public TruncationPolicy truncation() {
    return truncation;
  }

  /** A JSON-friendly description, for provenance. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("learning_rate", learningRate);
    m.put("warmup_steps", warmupSteps);
    m.put("num_train_epochs", epochs);
    m.put("prompts_per_batch", promptsPerBatch);
    m.put("seed", seed);
    m.put("margin", margin);
    m.put("center_rewards_coefficient", centerRewardsCoefficient);
    m.put("max_length", maxLength);
    m.put("eval_fraction", evalFraction);
    m.put("weight_decay", weightDecay);
    m.put("max_grad_norm", maxGradNorm);
    m.put("add_bos", addBos);
    m.put("append_eos", appendEos);
    m.put("truncation", truncation.name().toLowerCase(java.util.Locale.ROOT));
    m.put("eval_steps", evalEvery);
    return m;
  }

  @Override
  public String toString() {
    return "RewardConfig" + toMap();
  }

  /** Builds a validated {@link RewardConfig}. */
  public static final class Builder {
    private double learningRate = 1e-5;
    private int warmupSteps;
    private int epochs = 1;
    private int promptsPerBatch = 8;
    private long seed = 42;
    private double margin;
    private double centerRewardsCoefficient;
    private int maxLength = 1024;
    private double evalFraction;
    private double weightDecay;
    private double maxGradNorm = 1.0;
    private boolean addBos = true;
    private boolean appendEos = true;
    private TruncationPolicy truncation = TruncationPolicy.FAIL;
    private int evalEvery;

    private Builder() {}

    /** Sets {@link RewardConfig#learningRate()}. */
    public Builder learningRate(double v) {
      learningRate = v;
      return this;
    }

    /** Sets {@link RewardConfig#warmupSteps()}. */
    public Builder warmupSteps(int v) {
      warmupSteps = v;
      return this;
    }

    /** Sets {@link RewardConfig#epochs()}. */
    public Builder epochs(int v) {
      epochs = v;
      return this;
    }

    /** Sets {@link RewardConfig#promptsPerBatch()}. */
    public Builder promptsPerBatch(int v) {
      promptsPerBatch = v;
      return this;
    }

    /** Sets {@link RewardConfig#seed()}. */
    public Builder seed(long v) {
      seed = v;
      return this;
    }

    /** Sets {@link RewardConfig#margin()}. */
    public Builder margin(double v) {
      margin = v;
      return this;
    }

    /** Sets {@link RewardConfig#centerRewardsCoefficient()}. */
    public Builder centerRewardsCoefficient(double v) {
      centerRewardsCoefficient = v;
      return this;
    }

    /** Sets {@link RewardConfig#maxLength()}. */
    public Builder maxLength(int v) {
      maxLength = v;
      return this;
    }

    /** Sets {@link RewardConfig#evalFraction()}. */
    public Builder evalFraction(double v) {
      evalFraction = v;
      return this;
    }

    /** Sets {@link RewardConfig#weightDecay()}. */
    public Builder weightDecay(double v) {
      weightDecay = v;
      return this;
    }

    /** Sets {@link RewardConfig#maxGradNorm()}. */
    public Builder maxGradNorm(double v) {
      maxGradNorm = v;
      return this;
    }

    /** Sets {@link RewardConfig#addBos()}. */
    public Builder addBos(boolean v) {
      addBos = v;
      return this;
    }

    /** Sets {@link RewardConfig#appendEos()}. */
    public Builder appendEos(boolean v) {
      appendEos = v;
      return this;
    }

    /** Sets {@link RewardConfig#evalEvery()}. */
    public Builder evalEvery(int v) {
      evalEvery = v;
      return this;
    }

    /** Sets {@link RewardConfig#truncation()}. */
    public Builder truncation(TruncationPolicy v) {
      truncation = checkNotNull(v, "truncation");
      return this;
    }

    /** The configuration; {@link IllegalArgumentException} names the first invalid field. */
    public RewardConfig build() {
      checkArgument(learningRate > 0 && Double.isFinite(learningRate), "learningRate must be positive, got %s", learningRate);
      checkArgument(warmupSteps >= 0, "warmupSteps must be >= 0, got %s", warmupSteps);
      checkArgument(epochs >= 1, "epochs must be >= 1, got %s", epochs);
      checkArgument(promptsPerBatch >= 1, "promptsPerBatch must be >= 1, got %s", promptsPerBatch);
      checkArgument(Double.isFinite(margin), "margin must be finite, got %s", margin);
      checkArgument(centerRewardsCoefficient >= 0, "centerRewardsCoefficient must be >= 0, got %s", centerRewardsCoefficient);
      checkArgument(maxLength >= 2, "maxLength must be >= 2, got %s", maxLength);
      checkArgument(evalFraction >= 0 && evalFraction < 1, "evalFraction must be in [0, 1), got %s", evalFraction);
      checkArgument(weightDecay >= 0, "weightDecay must be >= 0, got %s", weightDecay);
      checkArgument(maxGradNorm >= 0, "maxGradNorm must be >= 0, got %s", maxGradNorm);
      checkArgument(evalEvery >= 0, "evalEvery must be >= 0, got %s", evalEvery);
      return new RewardConfig(this);
    }
  }
}
