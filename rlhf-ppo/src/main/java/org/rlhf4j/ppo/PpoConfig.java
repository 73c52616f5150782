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
 * The configuration of {@link PpoTrainer}, after TRL's {@code PPOConfig} (names in {@link #toMap()}
 * follow it). Immutable; {@link Builder#build()} names an invalid field. Unset optional numbers are
 * {@code NaN} (or 0 where noted).
 */
public final class PpoConfig extends TrainingConfig {
  private final long scheduleSteps;
  private final int miniBatchSize;
  private final int ppoEpochs;
  private final double clipRange;
  private final double clipRangeValue;
  private final double vfCoef;
  private final double entropyCoef;
  private final double gamma;
  private final double lam;
  private final double klCoef;
  private final boolean adaptiveKl;
  private final double targetKl;
  private final double klHorizon;
  private final double minKlCoef;
  private final KlEstimator klEstimator;
  private final double earlyStopTargetKl;
  private final double ratioThreshold;
  private final double maxApproxKl;
  private final double maxValueLoss;
  private final NonFiniteScores nonFiniteScores;
  private final boolean whitenRewards;
  private final double scoreClip;
  private final boolean scoreScaling;
  private final boolean scoreNorm;
  private final double missingEosPenalty;
  private final double nonEosScore;
  private final double ptxCoef;
  private final int ptxBatchSize;
  private final double temperature;
  private final int topK;
  private final double topP;
  private final int maxNewTokens;
  private final boolean addBos;

  private PpoConfig(Builder b, TrainingArguments training) {
    super(training);
    scheduleSteps = b.scheduleSteps;
    miniBatchSize = b.miniBatchSize;
    ppoEpochs = b.ppoEpochs;
    clipRange = b.clipRange;
    clipRangeValue = b.clipRangeValue;
    vfCoef = b.vfCoef;
    entropyCoef = b.entropyCoef;
    gamma = b.gamma;
    lam = b.lam;
    klCoef = b.klCoef;
    adaptiveKl = b.adaptiveKl;
    targetKl = b.targetKl;
    klHorizon = b.klHorizon;
    minKlCoef = b.minKlCoef;
    klEstimator = b.klEstimator;
    earlyStopTargetKl = b.earlyStopTargetKl;
    ratioThreshold = b.ratioThreshold;
    maxApproxKl = b.maxApproxKl;
    maxValueLoss = b.maxValueLoss;
    nonFiniteScores = b.nonFiniteScores;
    whitenRewards = b.whitenRewards;
    scoreClip = b.scoreClip;
    scoreScaling = b.scoreScaling;
    scoreNorm = b.scoreNorm;
    missingEosPenalty = b.missingEosPenalty;
    nonEosScore = b.nonEosScore;
    ptxCoef = b.ptxCoef;
    ptxBatchSize = b.ptxBatchSize;
    temperature = b.temperature;
    topK = b.topK;
    topP = b.topP;
    maxNewTokens = b.maxNewTokens;
    addBos = b.addBos;
  }

  /** TRL-like defaults (see each builder method). */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The optimiser steps over which a linear or cosine schedule decays (0 for the default constant
   * rate). A PPO step takes {@code ppoEpochs * rolloutBatchSize / miniBatchSize} optimiser steps
   * (fewer when early stopping ends its epochs), so a run of N PPO steps decays over about {@code N *
   * ppoEpochs * rolloutBatchSize / miniBatchSize}.
   */
  public long scheduleSteps() {
    return scheduleSteps;
  }

  /** Prompts sampled per PPO step (episodes per batch). */
  public int rolloutBatchSize() {
    return batchSize();
  }

  /** Episodes per gradient update. */
  public int miniBatchSize() {
    return miniBatchSize;
  }

  /** Passes over each rollout batch. */
  public int ppoEpochs() {
    return ppoEpochs;
  }

  /** PPO's epsilon for the policy ratio. */
  public double clipRange() {
    return clipRange;
  }

  /** Clip range of the value predictions. */
  public double clipRangeValue() {
    return clipRangeValue;
  }

  /** Weight of the value loss. */
  public double vfCoef() {
    return vfCoef;
  }

  /** Weight of the entropy bonus (0 = none). */
  public double entropyCoef() {
    return entropyCoef;
  }

  /** GAE's discount. */
  public double gamma() {
    return gamma;
  }

  /** GAE's lambda. */
  public double lam() {
    return lam;
  }

  /** The initial (or fixed) KL coefficient beta. */
  public double klCoef() {
    return klCoef;
  }

  /** Whether beta adapts to {@link #targetKl()}. */
  public boolean adaptiveKl() {
    return adaptiveKl;
  }

  /** The target KL of the adaptive controller. */
  public double targetKl() {
    return targetKl;
  }

  /** The adaptive controller's horizon (episodes). */
  public double klHorizon() {
    return klHorizon;
  }

  /**
   * The floor of the adaptive beta (0 = none, Ziegler's controller); see {@link KlController} for
   * why a short run wants one.
   */
  public double minKlCoef() {
    return minKlCoef;
  }

  /** How the per-token KL is estimated. */
  public KlEstimator klEstimator() {
    return klEstimator;
  }

  /**
   * TRL's {@code target_kl} with {@code early_stopping}: the optimisation of a step stops after a
   * minibatch whose policy KL {@code mean(logp_old - logp_new)} exceeds {@code 1.5 * targetKl} (0 =
   * never).
   */
  public double earlyStopTargetKl() {
    return earlyStopTargetKl;
  }

  /**
   * TRL's (legacy) {@code ratio_threshold}: a minibatch whose mean probability ratio exceeds it is
   * not applied (counted in {@code policy/skipped_ratio}; 0 = off). Default 10.
   */
  public double ratioThreshold() {
    return ratioThreshold;
  }

  /** A minibatch whose approx-KL exceeds this is not applied (counted in {@code policy/skipped_bounds}; 0 = off). */
  public double maxApproxKl() {
    return maxApproxKl;
  }

  /** A minibatch whose value loss exceeds this is not applied (counted in {@code policy/skipped_bounds}; 0 = off). */
  public double maxValueLoss() {
    return maxValueLoss;
  }

  /** What a NaN or infinite reward-model score does (default {@link NonFiniteScores#FAIL}). */
  public NonFiniteScores nonFiniteScores() {
    return nonFiniteScores;
  }

  /** Whiten the per-token rewards before GAE. */
  public boolean whitenRewards() {
    return whitenRewards;
  }

  /** Clip scores to [-c, c] (0 = off). */
  public double scoreClip() {
    return scoreClip;
  }

  /** Divide scores by their running standard deviation. */
  public boolean scoreScaling() {
    return scoreScaling;
  }

  /** With score scaling, also subtract the running mean. */
  public boolean scoreNorm() {
    return scoreNorm;
  }

  /** Subtracted from the score of responses without EOS (NaN = off). */
  public double missingEosPenalty() {
    return missingEosPenalty;
  }

  /** Replaces the score of responses without EOS (NaN = off). */
  public double nonEosScore() {
    return nonEosScore;
  }

  /** PPO-ptx's gamma: weight of the pre-training LM loss (0 = off). */
  public double ptxCoef() {
    return ptxCoef;
  }

  /** Pre-training sequences per update. */
  public int ptxBatchSize() {
    return ptxBatchSize;
  }

  /** Whether prompts start with BOS. */
  public boolean addBos() {
    return addBos;
  }

  /** The rollout's sampling settings ({@code stopToken} ends a response). */
  public SamplingConfig sampling(int stopToken) {
    return SamplingConfig.builder()
        .temperature(temperature)
        .topK(topK)
        .topP(topP)
        .maxNewTokens(maxNewTokens)
        .stopTokens(stopToken)
        .build();
  }

  /** The sampling temperature (log-probabilities use the same temperature). */
  public double temperature() {
    return temperature;
  }

  /** The maximum response length. */
  public int maxNewTokens() {
    return maxNewTokens;
  }

  /**
   * The optimiser: AdamW (eps 1e-5) with {@link #training()}'s learning-rate schedule over {@link
   * #scheduleSteps()} optimiser steps (constant by default).
   */
  public AdamWConfig optimizer() {
    return optimizer(scheduleSteps);
  }

  /** AdamW (eps 1e-5, as TRL's PPO) with the schedule over {@code totalSteps} optimiser steps. */
  @Override
  public AdamWConfig optimizer(long totalSteps) {
    return training().optimizer(totalSteps, 1e-5);
  }

  /** A JSON-friendly description with TRL's names. */
  public Map<String, Object> toMap() {
    TrainingArguments training = training();
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("learning_rate", training.learningRate());
    if (training.schedule() != TrainingArguments.Schedule.CONSTANT || training.warmupSteps() > 0) {
      // absent for the default constant rate, so that checkpoints written before schedules existed still match
      m.put("lr_scheduler_type", training.scheduleName());
      m.put("warmup_steps", training.warmupSteps());
      m.put("lr_schedule_steps", scheduleSteps);
    }
    m.put("batch_size", training.batchSize());
    m.put("mini_batch_size", miniBatchSize);
    m.put("num_ppo_epochs", ppoEpochs);
    m.put("cliprange", clipRange);
    m.put("cliprange_value", clipRangeValue);
    m.put("vf_coef", vfCoef);
    m.put("entropy_coef", entropyCoef);
    m.put("gamma", gamma);
    m.put("lam", lam);
    m.put("kl_coef", klCoef);
    m.put("adap_kl_ctrl", adaptiveKl);
    m.put("target", targetKl);
    m.put("horizon", klHorizon);
    if (minKlCoef > 0) { // absent when unset, so that checkpoints written before the floor existed still match
      m.put("min_kl_coef", minKlCoef);
    }
    m.put("kl_estimator", klEstimator.name().toLowerCase(Locale.ROOT));
    m.put("early_stopping", earlyStopTargetKl > 0);
    m.put("target_kl", earlyStopTargetKl);
    m.put("ratio_threshold", ratioThreshold);
    m.put("max_approx_kl", maxApproxKl);
    m.put("max_value_loss", maxValueLoss);
    m.put("non_finite_scores", nonFiniteScores.name().toLowerCase(Locale.ROOT));
    m.put("whiten_rewards", whitenRewards);
    m.put("score_clip", scoreClip);
    m.put("use_score_scaling", scoreScaling);
    m.put("use_score_norm", scoreNorm);
    if (!Double.isNaN(missingEosPenalty)) {
      m.put("missing_eos_penalty", missingEosPenalty);
    }
    if (!Double.isNaN(nonEosScore)) {
      m.put("non_eos_score", nonEosScore);
    }
    m.put("ptx_coef", ptxCoef);
    m.put("ptx_batch_size", ptxBatchSize);
    m.put("temperature", temperature);
    m.put("top_k", topK);
    m.put("top_p", topP);
    m.put("response_length", maxNewTokens);
    m.put("max_grad_norm", training.maxGradNorm());
    m.put("weight_decay", training.weightDecay());
    m.put("seed", training.seed());
    m.put("add_bos", addBos);
    return m;
  }

  @Override
  public String toString() {
    return "PpoConfig" + toMap();
  }

  /** Builds a validated {@link PpoConfig}. */
  public static final class Builder extends TrainingConfig.Builder<Builder> {
    private long scheduleSteps;
    private int miniBatchSize = 4;
    private int ppoEpochs = 4;
    private double clipRange = 0.2;
    private double clipRangeValue = 0.2;
    private double vfCoef = 0.1;
    private double entropyCoef;
    private double gamma = 1.0;
    private double lam = 0.95;
    private double klCoef = 0.05;
    private boolean adaptiveKl;
    private double targetKl = 6.0;
    private double klHorizon = 10000;
    private double minKlCoef;
    private KlEstimator klEstimator = KlEstimator.K1;
    private double earlyStopTargetKl;
    private double ratioThreshold = 10.0;
    private double maxApproxKl;
    private double maxValueLoss;
    private NonFiniteScores nonFiniteScores = NonFiniteScores.FAIL;
    private boolean whitenRewards;
    private double scoreClip;
    private boolean scoreScaling;
    private boolean scoreNorm;
    private double missingEosPenalty = Double.NaN;
    private double nonEosScore = Double.NaN;
    private double ptxCoef;
    private int ptxBatchSize = 4;
    private double temperature = 1.0;
    private int topK;
    private double topP = 1.0;
    private int maxNewTokens = 32;
    private boolean addBos = true;

    private Builder() {
      super(TrainingArguments.builder().learningRate(1e-5).schedule(TrainingArguments.Schedule.CONSTANT).batchSize(16).maxGradNorm(1.0)
          .seed(42), "rolloutBatchSize");
    }

    @Override
    protected Builder self() {
      return this;
    }

    /** The optimiser steps over which a linear or cosine schedule decays (required for them; default 0). */
    public Builder scheduleSteps(long v) {
      scheduleSteps = v;
      return this;
    }

    /**
     * Sets the shared training arguments: learning rate, schedule, warm-up, weight decay, clipping,
     * seed and the rollout batch size ({@code batchSize}); {@code evalEvery} must be 0 (PPO does
     * not evaluate).
     */
    @Override
    public Builder training(TrainingArguments v) {
      checkNotNull(v, "training");
      checkArgument(v.evalEvery() == 0, "evalEvery must be 0 for PPO (it does not evaluate), got %s", v.evalEvery());
      return super.training(v);
    }

    /** Default 16. */
    public Builder rolloutBatchSize(int v) {
      return batchSize(v);
    }

    /** Default 4. */
    public Builder miniBatchSize(int v) {
      miniBatchSize = v;
      return this;
    }

    /** Default 4. */
    public Builder ppoEpochs(int v) {
      ppoEpochs = v;
      return this;
    }

    /** Default 0.2. */
    public Builder clipRange(double v) {
      clipRange = v;
      return this;
    }

    /** Default 0.2. */
    public Builder clipRangeValue(double v) {
      clipRangeValue = v;
      return this;
    }

    /** Default 0.1. */
    public Builder vfCoef(double v) {
      vfCoef = v;
      return this;
    }

    /** Default 0. */
    public Builder entropyCoef(double v) {
      entropyCoef = v;
      return this;
    }

    /** Default 1. */
    public Builder gamma(double v) {
      gamma = v;
      return this;
    }

    /** Default 0.95. */
    public Builder lam(double v) {
      lam = v;
      return this;
    }

    /** Initial or fixed beta, default 0.05. */
    public Builder klCoef(double v) {
      klCoef = v;
      return this;
    }

    /** Adaptive beta towards {@code targetKl} over {@code horizon} episodes. */
    public Builder adaptiveKl(double targetKl, double horizon) {
      this.adaptiveKl = true;
      this.targetKl = targetKl;
      this.klHorizon = horizon;
      return this;
    }

    /**
     * Floor of the adaptive beta, default 0 (none); at most {@link #klCoef}. An anti-windup for
     * runs not much longer than the horizon (see {@link KlController}).
     */
    public Builder minKlCoef(double v) {
      minKlCoef = v;
      return this;
    }

    /** Default K1. */
    public Builder klEstimator(KlEstimator v) {
      klEstimator = v;
      return this;
    }

    /**
     * TRL's {@code early_stopping} with {@code target_kl}: stop a step's optimisation after a
     * minibatch whose {@code mean(logp_old - logp_new)} exceeds {@code 1.5 * targetKl} (default 0 =
     * off; TRL's usual value is 1).
     */
    public Builder earlyStopping(double targetKl) {
      earlyStopTargetKl = targetKl;
      return this;
    }

    /** TRL's {@code ratio_threshold}: skip a minibatch whose mean ratio exceeds it (default 10; 0 = off). */
    public Builder ratioThreshold(double v) {
      ratioThreshold = v;
      return this;
    }

    /** Skip a minibatch whose approx-KL {@code mean((logp - logp_old)^2) / 2} exceeds this (default 0 = off). */
    public Builder maxApproxKl(double v) {
      maxApproxKl = v;
      return this;
    }

    /** Skip a minibatch whose value loss exceeds this (default 0 = off). */
    public Builder maxValueLoss(double v) {
      maxValueLoss = v;
      return this;
    }

    /** What a NaN or infinite score does: fail the step (default) or drop those episodes. */
    public Builder nonFiniteScores(NonFiniteScores v) {
      nonFiniteScores = v;
      return this;
    }

    /** Default false. */
    public Builder whitenRewards(boolean v) {
      whitenRewards = v;
      return this;
    }

    /** Default 0 = off. */
    public Builder scoreClip(double v) {
      scoreClip = v;
      return this;
    }

    /** Running-std score scaling, optionally also mean-centred. */
    public Builder scoreScaling(boolean scaling, boolean norm) {
      scoreScaling = scaling;
      scoreNorm = norm;
      return this;
    }

    /** Subtracted from scores of responses without EOS (default off). */
    public Builder missingEosPenalty(double v) {
      missingEosPenalty = v;
      return this;
    }

    /** Replaces scores of responses without EOS (default off). */
    public Builder nonEosScore(double v) {
      nonEosScore = v;
      return this;
    }

    /** PPO-ptx: weight and batch size of the pre-training loss (default off). */
    public Builder ptx(double coef, int batchSize) {
      ptxCoef = coef;
      ptxBatchSize = batchSize;
      return this;
    }

    /** Default 1.0. */
    public Builder temperature(double v) {
      temperature = v;
      return this;
    }

    /**
     * Must stay 0: PPO's ratios and KL use the full next-token distribution, so sampling from a
     * truncated one would make the behaviour policy differ from pi_old (TRL fixes {@code top_k = 0}).
     */
    public Builder topK(int v) {
      topK = v;
      return this;
    }

    /** Must stay 1.0, for the reason given at {@link #topK}. */
    public Builder topP(double v) {
      topP = v;
      return this;
    }

    /** Default 32. */
    public Builder maxNewTokens(int v) {
      maxNewTokens = v;
      return this;
    }

    /** Default true. */
    public Builder addBos(boolean v) {
      addBos = v;
      return this;
    }

    /** The configuration; {@link IllegalArgumentException} names the first invalid field. */
    public PpoConfig build() {
      TrainingArguments training = buildTraining();
      checkArgument(training.evalEvery() == 0, "evalEvery must be 0 for PPO (it does not evaluate), got %s", training.evalEvery());
      int rolloutBatchSize = training.batchSize();
      checkArgument(
          miniBatchSize >= 1 && miniBatchSize <= rolloutBatchSize,
          "miniBatchSize must be in [1, rolloutBatchSize=%s], got %s",
          rolloutBatchSize,
          miniBatchSize);
      checkArgument(ppoEpochs >= 1, "ppoEpochs must be >= 1, got %s", ppoEpochs);
      finite("vfCoef", vfCoef);
      finite("entropyCoef", entropyCoef);
      finite("scoreClip", scoreClip);
      finite("ptxCoef", ptxCoef);
      finite("temperature", temperature);
      finite("clipRangeValue", clipRangeValue);
      finite("targetKl", targetKl);
      finite("klHorizon", klHorizon);
      checkArgument(Double.isNaN(missingEosPenalty) || Double.isFinite(missingEosPenalty), "missingEosPenalty must be finite, got %s", missingEosPenalty);
      checkArgument(Double.isNaN(nonEosScore) || Double.isFinite(nonEosScore), "nonEosScore must be finite, got %s", nonEosScore);
      checkArgument(clipRange > 0 && clipRange < 1, "clipRange must be in (0, 1), got %s", clipRange);
      checkArgument(clipRangeValue > 0, "clipRangeValue must be positive, got %s", clipRangeValue);
      checkArgument(vfCoef >= 0, "vfCoef must be >= 0, got %s", vfCoef);
      checkArgument(entropyCoef >= 0, "entropyCoef must be >= 0, got %s", entropyCoef);
      checkArgument(gamma >= 0 && gamma <= 1, "gamma must be in [0, 1], got %s", gamma);
      checkArgument(lam >= 0 && lam <= 1, "lam must be in [0, 1], got %s", lam);
      checkArgument(klCoef >= 0 && Double.isFinite(klCoef), "klCoef must be >= 0, got %s", klCoef);
      checkArgument(!adaptiveKl || targetKl > 0, "targetKl must be positive, got %s", targetKl);
      checkArgument(!adaptiveKl || klHorizon > 0, "klHorizon must be positive, got %s", klHorizon);
      checkArgument(minKlCoef >= 0 && Double.isFinite(minKlCoef), "minKlCoef must be >= 0, got %s", minKlCoef);
      checkArgument(minKlCoef == 0 || adaptiveKl, "minKlCoef %s needs the adaptive KL controller (adaptiveKl)", minKlCoef);
      checkArgument(minKlCoef <= klCoef, "minKlCoef (%s) must be at most klCoef (%s), the initial beta", minKlCoef, klCoef);
      checkArgument(klEstimator != null, "klEstimator must be set");
      checkArgument(
          earlyStopTargetKl >= 0 && Double.isFinite(earlyStopTargetKl), "earlyStopping target_kl must be >= 0, got %s", earlyStopTargetKl);
      checkArgument(ratioThreshold >= 0 && Double.isFinite(ratioThreshold), "ratioThreshold must be >= 0 and finite (0 = off), got %s", ratioThreshold);
      checkArgument(maxApproxKl >= 0 && Double.isFinite(maxApproxKl), "maxApproxKl must be >= 0 and finite (0 = off), got %s", maxApproxKl);
      checkArgument(maxValueLoss >= 0 && Double.isFinite(maxValueLoss), "maxValueLoss must be >= 0 and finite (0 = off), got %s", maxValueLoss);
      checkArgument(nonFiniteScores != null, "nonFiniteScores must be set");
      checkArgument(scoreClip >= 0, "scoreClip must be >= 0, got %s", scoreClip);
      checkArgument(!scoreNorm || scoreScaling, "scoreNorm needs scoreScaling");
      checkArgument(Double.isNaN(missingEosPenalty) || missingEosPenalty >= 0, "missingEosPenalty must be >= 0, got %s", missingEosPenalty);
      checkArgument(Double.isNaN(missingEosPenalty) || Double.isNaN(nonEosScore), "set at most one of missingEosPenalty and nonEosScore");
      checkArgument(ptxCoef >= 0, "ptxCoef must be >= 0, got %s", ptxCoef);
      checkArgument(ptxBatchSize >= 1, "ptxBatchSize must be >= 1, got %s", ptxBatchSize);
      checkArgument(temperature > 0, "temperature must be positive, got %s", temperature);
      checkArgument(
          topK == 0,
          "topK must be 0 for PPO, got %s: responses would be sampled from a truncated distribution while the"
              + " ratios and the KL use the full one (TRL fixes top_k = 0 and top_p = 1.0)",
          topK);
      checkArgument(
          topP == 1.0,
          "topP must be 1.0 for PPO, got %s: responses would be sampled from a truncated distribution while the"
              + " ratios and the KL use the full one (TRL fixes top_k = 0 and top_p = 1.0)",
          topP);
      checkArgument(maxNewTokens >= 1, "maxNewTokens must be >= 1, got %s", maxNewTokens);
      checkArgument(
          training.schedule() == TrainingArguments.Schedule.CONSTANT ? scheduleSteps >= 0 : scheduleSteps >= 1,
          "scheduleSteps (the optimiser steps a %s schedule decays over) must be >= 1, got %s",
          training.scheduleName(),
          scheduleSteps);
      return new PpoConfig(this, training);
    }

    private static void finite(String field, double v) {
      checkArgument(Double.isFinite(v), "%s must be finite, got %s", field, v);
    }
  }
}
