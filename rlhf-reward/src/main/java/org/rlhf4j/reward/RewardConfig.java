package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.rlhf4j.core.data.TruncationPolicy;
import org.rlhf4j.core.train.TrainingArguments;
import org.rlhf4j.core.train.TrainingConfig;

/**
 * The configuration of {@link RewardTrainer}, after TRL's {@code RewardConfig}. Immutable; {@link
 * Builder#build()} names an invalid field.
 */
public final class RewardConfig extends TrainingConfig {
  private final int epochs;
  private final double margin;
  private final double centerRewardsCoefficient;
  private final int maxLength;
  private final double evalFraction;
  private final boolean addBos;
  private final boolean appendEos;
  private final TruncationPolicy truncation;

  private RewardConfig(Builder b, TrainingArguments training) {
    super(training);
    epochs = b.epochs;
    margin = b.margin;
    centerRewardsCoefficient = b.centerRewardsCoefficient;
    maxLength = b.maxLength;
    evalFraction = b.evalFraction;
    addBos = b.addBos;
    appendEos = b.appendEos;
    truncation = b.truncation;
  }

  /** Defaults: lr 1e-5 with linear decay, 1 epoch, 8 prompts per batch, seed 42, no margin or centring. */
  public static Builder builder() {
    return new Builder();
  }

  /** Passes over the training rankings. */
  public int epochs() {
    return epochs;
  }

  /** Rankings per batch; all C(K,2) pairs of a ranking share its batch. */
  public int promptsPerBatch() {
    return batchSize();
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

  /** Start every sequence with BOS. */
  public boolean addBos() {
    return addBos;
  }

  /** End every response with EOS. */
  public boolean appendEos() {
    return appendEos;
  }

  /** What happens to a ranking with a (prompt + response) longer than the maximum length (default {@link TruncationPolicy#FAIL}: an error naming the record). */
  public TruncationPolicy truncation() {
    return truncation;
  }

  /** A JSON-friendly description, for provenance. */
  public Map<String, Object> toMap() {
    TrainingArguments training = training();
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("learning_rate", training.learningRate());
    if (training.schedule() != TrainingArguments.Schedule.LINEAR) {
      m.put("lr_scheduler_type", training.scheduleName()); // absent for the default, as before it was settable
    }
    m.put("warmup_steps", training.warmupSteps());
    m.put("num_train_epochs", epochs);
    m.put("prompts_per_batch", training.batchSize());
    m.put("seed", training.seed());
    m.put("margin", margin);
    m.put("center_rewards_coefficient", centerRewardsCoefficient);
    m.put("max_length", maxLength);
    m.put("eval_fraction", evalFraction);
    m.put("weight_decay", training.weightDecay());
    m.put("max_grad_norm", training.maxGradNorm());
    m.put("add_bos", addBos);
    m.put("append_eos", appendEos);
    m.put("truncation", truncation.name().toLowerCase(Locale.ROOT));
    m.put("eval_steps", training.evalEvery());
    return m;
  }

  @Override
  public String toString() {
    return "RewardConfig" + toMap();
  }

  /** Builds a validated {@link RewardConfig}. */
  public static final class Builder extends TrainingConfig.Builder<Builder> {
    private int epochs = 1;
    private double margin;
    private double centerRewardsCoefficient;
    private int maxLength = 1024;
    private double evalFraction;
    private boolean addBos = true;
    private boolean appendEos = true;
    private TruncationPolicy truncation = TruncationPolicy.FAIL;

    private Builder() {
      super(TrainingArguments.builder().learningRate(1e-5).schedule(TrainingArguments.Schedule.LINEAR).batchSize(8).seed(42),
          "promptsPerBatch");
    }

    @Override
    protected Builder self() {
      return this;
    }

    /** Sets {@link RewardConfig#epochs()}. */
    public Builder epochs(int v) {
      epochs = v;
      return this;
    }

    /** Sets {@link RewardConfig#promptsPerBatch()}. */
    public Builder promptsPerBatch(int v) {
      return batchSize(v);
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

    /** Sets {@link RewardConfig#truncation()}. */
    public Builder truncation(TruncationPolicy v) {
      truncation = checkNotNull(v, "truncation");
      return this;
    }

    /** The configuration; {@link IllegalArgumentException} names the first invalid field. */
    public RewardConfig build() {
      TrainingArguments training = buildTraining();
      checkArgument(epochs >= 1, "epochs must be >= 1, got %s", epochs);
      checkArgument(Double.isFinite(margin), "margin must be finite, got %s", margin);
      checkArgument(centerRewardsCoefficient >= 0, "centerRewardsCoefficient must be >= 0, got %s", centerRewardsCoefficient);
      checkArgument(maxLength >= 2, "maxLength must be >= 2, got %s", maxLength);
      checkArgument(evalFraction >= 0 && evalFraction < 1, "evalFraction must be in [0, 1), got %s", evalFraction);

      return new RewardConfig(this, training);
    }
  }
}
