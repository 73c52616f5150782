package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.train.TrainingArguments;
import org.rlhf4j.core.train.TrainingConfig;

/**
 * The configuration of {@link GrpoTrainer}: GRPO (Shao et al. 2024) by default, RLOO (Ahmadian et
 * al. 2024) with {@link #rlooBuilder()}. Immutable; {@link Builder#build()} names an invalid field.
 * {@code training().batchSize()} is the number of completions per step ({@code numGenerations}
 * per prompt, so a multiple of it).
 */
public final class GrpoConfig extends TrainingConfig {
  /** How a completion's advantage is computed from the scores of its group. */
  public enum Advantage {
    /** GRPO: {@code (r - mean_group) / (std_group + eps)}. */
    GROUP_NORMALIZED,
    /** RLOO: {@code r_i - mean_{j != i} r_j}. */
    LEAVE_ONE_OUT
  }

  private final long scheduleSteps;
  private final int numGenerations;
  private final int miniBatchSize;
  private final int numIterations;
  private final int maxNewTokens;
  private final double temperature;
  private final double clipRange;
  private final double beta;
  private final boolean klInReward;
  private final KlEstimator rewardKlEstimator;
  private final Advantage advantage;
  private final double advantageEps;
  private final boolean addBos;

  private GrpoConfig(Builder b, TrainingArguments training) {
    super(training);
    this.scheduleSteps = b.scheduleSteps;
    this.numGenerations = b.numGenerations;
    this.miniBatchSize = b.miniBatchSize == 0 ? training.batchSize() : b.miniBatchSize;
    this.numIterations = b.numIterations;
    this.maxNewTokens = b.maxNewTokens;
    this.temperature = b.temperature;
    this.clipRange = b.clipRange;
    this.beta = b.beta;
    this.klInReward = b.klInReward;
    this.rewardKlEstimator = b.rewardKlEstimator;
    this.advantage = b.advantage;
    this.advantageEps = b.advantageEps;
    this.addBos = b.addBos;
  }

  /** GRPO's defaults (TRL's {@code GRPOConfig}: beta 0.04, KL in the loss, epsilon 0.2, G = 8). */
  public static Builder builder() {
    return new Builder();
  }

  /** RLOO's defaults (TRL's {@code RLOOConfig}: leave-one-out advantages, KL (k1) in the reward, beta 0.05, k = 4). */
  public static Builder rlooBuilder() {
    return new Builder().advantage(Advantage.LEAVE_ONE_OUT).klInReward(true).beta(0.05).numGenerations(4)
        .batchSize(16);
  }

  /** G, completions sampled per prompt. */
  public int numGenerations() {
    return numGenerations;
  }

  /** Prompts per step, {@code batchSize / numGenerations}. */
  public int promptsPerStep() {
    return batchSize() / numGenerations;
  }

  /** Completions per optimiser step. */
  public int miniBatchSize() {
    return miniBatchSize;
  }

  /** Passes over each rollout (GRPO's mu, TRL's {@code num_iterations}). */
  public int numIterations() {
    return numIterations;
  }

  /** The response length limit. */
  public int maxNewTokens() {
    return maxNewTokens;
  }

  /** The sampling temperature (log-probabilities use the same). */
  public double temperature() {
    return temperature;
  }

  /** The surrogate's clip epsilon. */
  public double clipRange() {
    return clipRange;
  }

  /** The KL coefficient: of the k3 term in the loss, or of the KL subtracted from the score. */
  public double beta() {
    return beta;
  }

  /** Whether the KL is subtracted from the score (RLOO) instead of added to the loss (GRPO). */
  public boolean klInReward() {
    return klInReward;
  }

  /** The per-token estimator of the KL in the reward and in the statistics (k1 by default). */
  public KlEstimator rewardKlEstimator() {
    return rewardKlEstimator;
  }

  /** The advantage estimator. */
  public Advantage advantage() {
    return advantage;
  }

  /** The eps of the group-normalised advantage. */
  public double advantageEps() {
    return advantageEps;
  }

  /** Whether prompts start with BOS. */
  public boolean addBos() {
    return addBos;
  }

  /**
   * The optimiser steps over which a linear or cosine schedule decays (0 for the default constant
   * rate). A step takes {@code numIterations * batchSize / miniBatchSize} optimiser steps (rounded
   * up per iteration), so {@code n} steps decay over {@code n} times that.
   */
  public long scheduleSteps() {
    return scheduleSteps;
  }

  /** The optimiser: AdamW with {@link #training()}'s schedule over {@link #scheduleSteps()} optimiser steps. */
  public AdamWConfig optimizer() {
    return optimizer(scheduleSteps);
  }

  /** Sampling settings for the rollouts ({@code stopToken} ends a response). */
  public SamplingConfig sampling(int stopToken) {
    return SamplingConfig.builder().temperature(temperature).maxNewTokens(maxNewTokens).stopTokens(stopToken).build();
  }

  /** A JSON-friendly description with TRL's names. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    training().putInto(m, "per_device_train_batch_size");
    if (scheduleSteps > 0) {
      m.put("lr_schedule_steps", scheduleSteps); // absent for the constant default, as before schedules existed
    }
    m.put("num_generations", numGenerations);
    m.put("mini_batch_size", miniBatchSize);
    m.put("num_iterations", numIterations);
    m.put("max_completion_length", maxNewTokens);
    m.put("temperature", temperature);
    m.put("epsilon", clipRange);
    m.put("beta", beta);
    m.put("kl_in_reward", klInReward);
    m.put("kl_estimator", rewardKlEstimator.name().toLowerCase(Locale.ROOT));
    m.put("advantage", advantage.name().toLowerCase(Locale.ROOT));
    return m;
  }

  @Override
  public String toString() {
    return "GrpoConfig" + toMap();
  }

  /** A builder; {@link #build()} checks every field. */
  public static final class Builder extends TrainingConfig.Builder<Builder> {
    private long scheduleSteps;
    private int numGenerations = 8;
    private int miniBatchSize;
    private int numIterations = 1;
    private int maxNewTokens = 16;
    private double temperature = 1.0;
    private double clipRange = 0.2;
    private double beta = 0.04;
    private boolean klInReward;
    private KlEstimator rewardKlEstimator = KlEstimator.K1;
    private Advantage advantage = Advantage.GROUP_NORMALIZED;
    private double advantageEps = 1e-4;
    private boolean addBos;

    private Builder() {
      super(TrainingArguments.builder().learningRate(1e-5).schedule(TrainingArguments.Schedule.CONSTANT).batchSize(16), "batchSize");
    }

    @Override
    protected Builder self() {
      return this;
    }

    /** The optimiser steps over which a linear or cosine schedule decays (required for them; default 0). */
    public Builder scheduleSteps(long v) {
      this.scheduleSteps = v;
      return this;
    }

    /** G, completions per prompt (>= 2). */
    public Builder numGenerations(int v) {
      this.numGenerations = v;
      return this;
    }

    /** Completions per optimiser step (0: the whole batch). */
    public Builder miniBatchSize(int v) {
      this.miniBatchSize = v;
      return this;
    }

    /** Passes over each rollout (>= 1). */
    public Builder numIterations(int v) {
      this.numIterations = v;
      return this;
    }

    /** The response length limit (>= 1). */
    public Builder maxNewTokens(int v) {
      this.maxNewTokens = v;
      return this;
    }

    /** The sampling temperature (> 0). */
    public Builder temperature(double v) {
      this.temperature = v;
      return this;
    }

    /** The clip epsilon (> 0). */
    public Builder clipRange(double v) {
      this.clipRange = v;
      return this;
    }

    /** The KL coefficient (>= 0). */
    public Builder beta(double v) {
      this.beta = v;
      return this;
    }

    /** KL in the reward (RLOO) rather than in the loss (GRPO). */
    public Builder klInReward(boolean v) {
      this.klInReward = v;
      return this;
    }

    /** The estimator of the KL in the reward and statistics (not FULL). */
    public Builder rewardKlEstimator(KlEstimator v) {
      this.rewardKlEstimator = checkNotNull(v, "rewardKlEstimator");
      return this;
    }

    /** The advantage estimator. */
    public Builder advantage(Advantage v) {
      this.advantage = checkNotNull(v, "advantage");
      return this;
    }

    /** The eps of the group-normalised advantage (>= 0). */
    public Builder advantageEps(double v) {
      this.advantageEps = v;
      return this;
    }

    /** Whether prompts start with BOS. */
    public Builder addBos(boolean v) {
      this.addBos = v;
      return this;
    }

    /** The config; an invalid field is an error naming it and its value. */
    public GrpoConfig build() {
      TrainingArguments training = buildTraining();
      checkArgument(numGenerations >= 2, "numGenerations must be >= 2 (a group needs a baseline), got %s", numGenerations);
      checkArgument(training.batchSize() % numGenerations == 0,
          "batchSize %s must be a multiple of numGenerations %s", training.batchSize(), numGenerations);
      checkArgument(miniBatchSize >= 0 && miniBatchSize <= training.batchSize(),
          "miniBatchSize must be in [0, batchSize %s], got %s", training.batchSize(), miniBatchSize);
      checkArgument(numIterations >= 1, "numIterations must be >= 1, got %s", numIterations);
      checkArgument(maxNewTokens >= 1, "maxNewTokens must be >= 1, got %s", maxNewTokens);
      checkArgument(temperature > 0 && Double.isFinite(temperature), "temperature must be positive, got %s", temperature);
      checkArgument(clipRange > 0 && Double.isFinite(clipRange), "clipRange must be positive, got %s", clipRange);
      checkArgument(beta >= 0 && Double.isFinite(beta), "beta must be >= 0, got %s", beta);
      checkArgument(rewardKlEstimator != KlEstimator.FULL, "rewardKlEstimator must be a per-token estimator, not FULL");
      checkArgument(advantageEps >= 0 && Double.isFinite(advantageEps), "advantageEps must be >= 0, got %s", advantageEps);
      checkArgument(
          training.schedule() == TrainingArguments.Schedule.CONSTANT ? scheduleSteps >= 0 : scheduleSteps >= 1,
          "scheduleSteps (the optimiser steps a %s schedule decays over) must be >= 1, got %s", training.scheduleName(),
          scheduleSteps);
      return new GrpoConfig(this, training);
    }
  }
}
