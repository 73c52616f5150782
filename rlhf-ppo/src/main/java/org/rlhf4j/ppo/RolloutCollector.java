package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.TokenLogProbs;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.RewardModel;
import org.rlhf4j.reward.TextRewardModel;

/**
 * The rollout stage shared by the RL trainers: sample a response per prompt from the policy, compute
 * the policy's and the frozen reference's log-probabilities of it (and, if asked, the values), the
 * per-token KL estimate, and the reward model's score. Produces an immutable {@link Rollout}; the
 * algorithms (advantages, losses) consume it. The collector changes no model.
 *
 * <pre>{@code
 * RolloutCollector c = RolloutCollector.builder()
 *     .policy(policy).reference(sft).rewardModel(rm).tokenizer(tok)
 *     .sampling(SamplingConfig.builder().maxNewTokens(32).stopTokens(Set.of(tok.eosId())).build())
 *     .build();
 * Rollout r = c.collectSeeded(List.of(tok.encodePrompt("Hello", true)), 1, new long[] {7});
 * }</pre>
 *
 * Not thread-safe (it runs forward passes of the models); one collector per thread and model copy.
 */
public final class RolloutCollector {
  private final CausalLm policy;
  private final CausalLm reference;
  private final CausalLm valueModel; // null: no values
  private final RewardModel rewardModel;
  private final SamplingConfig sampling;
  private final double temperature;
  private final KlEstimator klEstimator;
  private final int padId;
  private final int stopToken;

  private RolloutCollector(Builder b) {
    this.policy = b.policy;
    this.reference = b.reference;
    this.valueModel = b.valueModel;
    this.rewardModel = b.rewardModel instanceof TextRewardModel t && t.tokenizer().isEmpty()
        ? t.withTokenizer(b.tokenizer) // a text reward decodes with the policy's tokenizer
        : b.rewardModel;
    this.sampling = b.sampling;
    this.temperature = b.temperature;
    this.klEstimator = b.klEstimator;
    this.padId = b.tokenizer.padId();
    this.stopToken = b.tokenizer.eosId();
  }

  /** A builder; policy, reference, reward model, tokenizer and sampling must be set. */
  public static Builder builder() {
    return new Builder();
  }

  /** The sampling settings (maximum length, stop tokens, temperature). */
  public SamplingConfig sampling() {
    return sampling;
  }

  /** The reward model, as the collector calls it. */
  public RewardModel rewardModel() {
    return rewardModel;
  }

  /**
   * Samples, measures and scores one response per encoded prompt, all rows drawing from {@code rng}
   * (so a row's sample depends on the whole batch: what the trainers use, reproducible from the
   * trainer's step seed).
   */
  public Rollout collect(List<int[]> encodedPrompts, SplittableRandom rng) {
    checkNotNull(rng, "rng");
    TokenBatch prompts = leftPadded(encodedPrompts);
    return measure(Generator.generate(policy, prompts, sampling, rng, padId));
  }

  /**
   * Rolls out {@code encodedPrompts.size() / groupSize} units of {@code groupSize} consecutive
   * prompts, each unit on its own as a batch sampled with {@code new SplittableRandom(seeds[u])}, and
   * concatenates them ({@link Rollout#concat}). A unit's rows depend only on its prompts, its seed,
   * the models and their thread count, not on the other units: the same units can be rolled out
   * anywhere (another thread, process or machine) with the same result. With {@code groupSize} 1
   * every prompt has its own seed.
   */
  public Rollout collectSeeded(List<int[]> encodedPrompts, int groupSize, long[] seeds) {
    checkNotNull(encodedPrompts, "encodedPrompts");
    checkNotNull(seeds, "seeds");
    checkArgument(groupSize >= 1, "groupSize must be >= 1, got %s", groupSize);
    checkArgument(!encodedPrompts.isEmpty() && encodedPrompts.size() % groupSize == 0,
        "%s prompts are not a positive multiple of the group size %s", encodedPrompts.size(), groupSize);
    int units = encodedPrompts.size() / groupSize;
    checkArgument(seeds.length == units, "%s seeds for %s units", seeds.length, units);
    List<Rollout> parts = new ArrayList<>(units);
    for (int u = 0; u < units; u++) {
      parts.add(collect(encodedPrompts.subList(u * groupSize, (u + 1) * groupSize), new SplittableRandom(seeds[u])));
    }
    return Rollout.concat(parts, padId);
  }

  /** The model sampled from. */
  public CausalLm policy() {
    return policy;
  }

  /** The frozen reference. */
  public CausalLm reference() {
    return reference;
  }

  /**
   * The model whose scalar head gives the values ({@link Builder#values}): the policy itself, a
   * separate critic, or empty when the collector records no values.
   */
  public java.util.Optional<CausalLm> valueModel() {
    return java.util.Optional.ofNullable(valueModel);
  }

  /** The temperature of the log-probabilities. */
  public double temperature() {
    return temperature;
  }

  /** The per-token KL estimator. */
  public KlEstimator klEstimator() {
    return klEstimator;
  }

  /** The padding token id. */
  public int padId() {
    return padId;
  }

  /** The token that ends a response. */
  public int stopToken() {
    return stopToken;
  }

  private TokenBatch leftPadded(List<int[]> encodedPrompts) {
    checkNotNull(encodedPrompts, "encodedPrompts");
    checkArgument(!encodedPrompts.isEmpty(), "no prompts to roll out");
    for (int i = 0; i < encodedPrompts.size(); i++) {
      checkArgument(encodedPrompts.get(i) != null && encodedPrompts.get(i).length > 0, "prompt %s has no tokens", i);
    }
    return TokenBatch.leftPadded(encodedPrompts, padId);
  }

  /** Log-probabilities, entropy, values, KL and scores of a sampled batch. */
  private Rollout measure(Generation gen) {
    TokenBatch seq = gen.sequences(); // [B, P+N]
    int p = gen.prompts().length();
    int n = gen.steps();
    int b = gen.batchSize();
    int[] length = new int[b];
    boolean[] hasEos = new boolean[b];
    for (int i = 0; i < b; i++) {
      int[] r = gen.response(i);
      length[i] = r.length;
      hasEos[i] = r.length > 0 && r[r.length - 1] == stopToken;
    }
    ForwardPass pp = policy.forward(seq);
    TokenLogProbs lp = pp.tokenLogProbs(temperature);
    double[][] logp = ResponseTokens.gather(lp.logProbs(), p, n);
    double[][] entropy = ResponseTokens.gather(lp.entropy(), p, n);
    INDArray policyLogits = klEstimator == KlEstimator.FULL ? pp.logits() : null;
    double[][] values = null;
    if (valueModel == policy) {
      values = ResponseTokens.gather(pp.values(), p, n);
    } else if (valueModel != null) {
      values = ResponseTokens.gather(valueModel.forward(seq).values(), p, n);
    }
    ForwardPass rp = reference.forward(seq);
    double[][] logq = ResponseTokens.gather(rp.tokenLogProbs(temperature).logProbs(), p, n);
    double[][] kl;
    int clamped = 0;
    if (klEstimator == KlEstimator.FULL) {
      kl = FullKl.perToken(policyLogits, rp.logits(), p, length, temperature);
      for (int i = 0; i < b; i++) {
        for (int t = 0; t < length[i]; t++) {
          clamped += Math.abs(kl[i][t]) >= KlEstimator.ESTIMATE_CLAMP ? 1 : 0;
        }
      }
    } else {
      kl = new double[b][n];
      for (int i = 0; i < b; i++) {
        for (int t = 0; t < length[i]; t++) {
          kl[i][t] = klEstimator.perToken(logp[i][t], logq[i][t]);
          clamped += klEstimator.isClamped(logp[i][t], logq[i][t]) ? 1 : 0;
        }
      }
    }
    INDArray scored = rewardModel.score(seq, p);
    if (scored == null || scored.length() != b) {
      throw new RlhfException("the reward model " + describe(rewardModel) + " returned "
          + (scored == null ? "null" : scored.length() + " scores") + " for " + b + " sequences");
    }
    return new Rollout(seq, p, n, length, hasEos, Rollout.identity(b), logp, logq, entropy, values, kl, scored.toDoubleVector(), clamped);
  }

  /** The reward model's class and description, for error messages. */
  static String describe(RewardModel rm) {
    String s = String.valueOf(rm);
    return s.startsWith(rm.getClass().getName() + "@") ? rm.getClass().getName() : rm.getClass().getSimpleName() + " " + s;
  }

  /** Builds a {@link RolloutCollector}; {@link #build()} names a missing or bad part. */
  public static final class Builder {
    private CausalLm policy;
    private CausalLm reference;
    private CausalLm valueModel;
    private RewardModel rewardModel;
    private Tokenizer tokenizer;
    private SamplingConfig sampling;
    private double temperature = Double.NaN;
    private KlEstimator klEstimator = KlEstimator.K1;

    private Builder() {}

    /** The model that samples (not changed by the collector). */
    public Builder policy(CausalLm v) {
      policy = checkNotNull(v, "policy");
      return this;
    }

    /** The frozen reference of the KL (a different object from the policy). */
    public Builder reference(CausalLm v) {
      reference = checkNotNull(v, "reference");
      return this;
    }

    /** The reward model scoring each sequence (a text reward model without a tokenizer gets {@link #tokenizer}'s). */
    public Builder rewardModel(RewardModel v) {
      rewardModel = checkNotNull(v, "rewardModel");
      return this;
    }

    /** The tokenizer: its padding id pads the prompts, its EOS marks a finished response. */
    public Builder tokenizer(Tokenizer v) {
      tokenizer = checkNotNull(v, "tokenizer");
      return this;
    }

    /** How responses are sampled; log-probabilities are taken at its temperature unless {@link #temperature} says otherwise. */
    public Builder sampling(SamplingConfig v) {
      sampling = checkNotNull(v, "sampling");
      return this;
    }

    /** The temperature of the log-probabilities (default: the sampling temperature). */
    public Builder temperature(double v) {
      checkArgument(v > 0 && Double.isFinite(v), "temperature must be positive, got %s", v);
      temperature = v;
      return this;
    }

    /** The per-token KL estimator (default {@link KlEstimator#K1}); {@link KlEstimator#FULL} compares the full distributions. */
    public Builder klEstimator(KlEstimator v) {
      klEstimator = checkNotNull(v, "klEstimator");
      return this;
    }

    /**
     * Also records values from {@code model}'s scalar head: the policy itself (its value head, read
     * from the same forward pass) or a separate critic. Without this call the rollout has none.
     */
    public Builder values(CausalLm model) {
      valueModel = checkNotNull(model, "model");
      return this;
    }

    /** The collector. */
    public RolloutCollector build() {
      checkArgument(policy != null, "policy must be set");
      checkArgument(reference != null, "reference must be set");
      checkArgument(rewardModel != null, "rewardModel must be set");
      checkArgument(tokenizer != null, "tokenizer must be set");
      checkArgument(sampling != null, "sampling must be set");
      checkArgument(policy != reference, "policy and reference are the same model: the reference must stay frozen");
      checkArgument(valueModel == null || valueModel.hasScalarHead(), "the value model has no scalar head");
      if (Double.isNaN(temperature)) {
        temperature = sampling.temperature();
      }
      return new RolloutCollector(this);
    }
  }
}
