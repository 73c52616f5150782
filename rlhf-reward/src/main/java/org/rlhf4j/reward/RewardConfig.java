package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.rlhf4j.core.data.TruncationPolicy;
import org.rlhf4j.core.train.SupervisedConfig;
import org.rlhf4j.core.train.TrainingArguments;

/**
 * The configuration of {@link RewardTrainer}, after TRL's {@code RewardConfig}. Immutable; {@link
 * Builder#build()} names an invalid field.
 */
public final class RewardConfig extends SupervisedConfig {
  private final double margin;
  private final double centerRewardsCoefficient;
  private final double evalFraction;
  private final boolean appendEos;
  private final TruncationPolicy truncation;

  private RewardConfig(Builder b, TrainingArguments training) {
    super(training, b);
    margin = b.margin;
    centerRewardsCoefficient = b.centerRewardsCoefficient;
    evalFraction = b.evalFraction;
    appendEos = b.appendEos;
    truncation = b.truncation;
  }

  /** Defaults: lr 1e-5 with linear decay, 1 epoch, 8 prompts per batch, seed 42, no margin or centring. */
  public static Builder builder() {
    return new Builder();
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

  /** Fraction of the rankings held out for evaluation when no eval set is given (0 = none). */
  public double evalFraction() {
    return evalFraction;
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
    m.put("num_train_epochs", epochs());
    m.put("prompts_per_batch", training.batchSize());
    m.put("seed", training.seed());
    m.put("margin", margin);
    m.put("center_rewards_coefficient", centerRewardsCoefficient);
    m.put("max_length", maxLength());
    m.put("eval_fraction", evalFraction);
    m.put("weight_decay", training.weightDecay());
    m.put("max_grad_norm", training.maxGradNorm());
    m.put("add_bos", addBos());
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
  public static final class Builder extends SupervisedConfig.Builder<Builder> {
    private double margin;
    private double centerRewardsCoefficient;
    private double evalFraction;
    private boolean appendEos = true;
    private TruncationPolicy truncation = TruncationPolicy.FAIL;

    private Builder() {
      super(TrainingArguments.builder().learningRate(1e-5).schedule(TrainingArguments.Schedule.LINEAR).batchSize(8).seed(42),
          "promptsPerBatch", 1);
    }

    @Override
    protected Builder self() {
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

    /** Sets {@link RewardConfig#evalFraction()}. */
    public Builder evalFraction(double v) {
      evalFraction = v;
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
      TrainingArguments training = buildSupervised();
      checkArgument(Double.isFinite(margin), "margin must be finite, got %s", margin);
      checkArgument(centerRewardsCoefficient >= 0, "centerRewardsCoefficient must be >= 0, got %s", centerRewardsCoefficient);
      checkArgument(evalFraction >= 0 && evalFraction < 1, "evalFraction must be in [0, 1), got %s", evalFraction);

      return new RewardConfig(this, training);
    }
  }
}
