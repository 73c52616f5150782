package org.rlhf4j.core.optim;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW's hyper-parameters and global-norm gradient clipping. Immutable; {@link #builder()}'s {@code
 * build()} names an invalid field. Defaults follow PyTorch/Hugging Face: betas (0.9, 0.999), eps
 * 1e-8, weight decay 0.0, clipping at norm 1.0, constant learning rate 1e-4.
 *
 * @param schedule the learning rate per step
 * @param beta1 first-moment decay, in [0, 1)
 * @param beta2 second-moment decay, in [0, 1)
 * @param eps added to the denominator, positive
 * @param weightDecay decoupled weight decay for embeddings and matrices (not biases or LayerNorm)
 * @param maxGradNorm clip the global gradient norm to this; 0 disables clipping
 */
public record AdamWConfig(LrSchedule schedule, double beta1, double beta2, double eps, double weightDecay, double maxGradNorm) {
  public AdamWConfig {
    checkArgument(schedule != null, "schedule must be set");
    checkArgument(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got %s", beta1);
    checkArgument(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got %s", beta2);
    checkArgument(eps > 0, "eps must be positive, got %s", eps);
    checkArgument(weightDecay >= 0 && Double.isFinite(weightDecay), "weightDecay must be >= 0, got %s", weightDecay);
    checkArgument(maxGradNorm >= 0 && Double.isFinite(maxGradNorm), "maxGradNorm must be >= 0, got %s", maxGradNorm);
  }

  /** A builder with the defaults above. */
  public static Builder builder() {
    return new Builder();
  }

  /** A JSON-friendly description, for checkpoint metadata. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("schedule", schedule.toMap());
    m.put("beta1", beta1);
    m.put("beta2", beta2);
    m.put("eps", eps);
    m.put("weight_decay", weightDecay);
    m.put("max_grad_norm", maxGradNorm);
    return m;
  }

  /** Builds an {@link AdamWConfig}. */
  public static final class Builder {
    private LrSchedule schedule = LrSchedule.constant(1e-4);
    private double beta1 = 0.9;
    private double beta2 = 0.999;
    private double eps = 1e-8;
    private double weightDecay = 0.0;
    private double maxGradNorm = 1.0;

    private Builder() {}

    /** A constant learning rate. */
    public Builder learningRate(double lr) {
      this.schedule = LrSchedule.constant(lr);
      return this;
    }

    /** The learning-rate schedule. */
    public Builder schedule(LrSchedule s) {
      this.schedule = s;
      return this;
    }

    /** Adam's betas. */
    public Builder betas(double b1, double b2) {
      this.beta1 = b1;
      this.beta2 = b2;
      return this;
    }

    /** Adam's epsilon. */
    public Builder eps(double e) {
      this.eps = e;
      return this;
    }

    /** Decoupled weight decay. */
    public Builder weightDecay(double wd) {
      this.weightDecay = wd;
      return this;
    }

    /** Global-norm clipping threshold (0 = off). */
    public Builder maxGradNorm(double n) {
      this.maxGradNorm = n;
      return this;
    }

    /** The configuration. */
    public AdamWConfig build() {
      return new AdamWConfig(schedule, beta1, beta2, eps, weightDecay, maxGradNorm);
    }
  }
}
