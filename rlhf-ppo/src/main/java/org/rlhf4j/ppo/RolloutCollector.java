package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

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
import org.rlhf4j.reward.RewardModel;

/**
 * The rollout stage shared by the RL trainers: generate a response per prompt, score it with the
 * reward model, compute the reference's log-probabilities and the per-token KL. Produces an
 * immutable {@link GroupRollout}; the algorithms (advantages, losses) consume it.
 */
public final class RolloutCollector {
  private final CausalLm policy;
  private final CausalLm reference;
  private final RewardModel rewardModel;
  private final SamplingConfig sampling;
  private final double temperature;
  private final KlEstimator klEstimator;
  private final int padId;
  private final int stopToken;

  /**
   * A collector sampling from {@code policy} with {@code sampling} (log-probs at {@code
   * temperature}); {@code klEstimator} is a per-token estimator (not {@link KlEstimator#FULL}).
   */
  public RolloutCollector(CausalLm policy, CausalLm reference, RewardModel rewardModel, SamplingConfig sampling,
      double temperature, KlEstimator klEstimator, int padId, int stopToken) {
    this.policy = checkNotNull(policy, "policy");
    this.reference = checkNotNull(reference, "reference");
    this.rewardModel = checkNotNull(rewardModel, "rewardModel");
    this.sampling = checkNotNull(sampling, "sampling");
    checkArgument(temperature > 0 && Double.isFinite(temperature), "temperature must be positive, got %s", temperature);
    this.temperature = temperature;
    this.klEstimator = checkNotNull(klEstimator, "klEstimator");
    checkArgument(klEstimator != KlEstimator.FULL, "RolloutCollector takes a per-token KL estimator, not FULL");
    this.padId = padId;
    this.stopToken = stopToken;
  }

  /** Samples, scores and measures the KL of one response per encoded prompt. */
  public GroupRollout collect(List<int[]> encodedPrompts, SplittableRandom rng) {
    checkArgument(!encodedPrompts.isEmpty(), "no prompts to roll out");
    TokenBatch prompts = TokenBatch.leftPadded(encodedPrompts, padId);
    Generation gen = Generator.generate(policy, prompts, sampling, rng, padId);
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
    double[][] logp = ResponseTokens.gather(pp.tokenLogProbs(temperature).logProbs(), p, n);
    double[][] logq = ResponseTokens.gather(reference.forward(seq).tokenLogProbs(temperature).logProbs(), p, n);
    double[][] kl = new double[b][n];
    for (int i = 0; i < b; i++) {
      for (int t = 0; t < length[i]; t++) {
        kl[i][t] = klEstimator.perToken(logp[i][t], logq[i][t]);
      }
    }
    INDArray scored = rewardModel.score(seq, p);
    if (scored == null || scored.length() != b) {
      throw new RlhfException("the reward model " + rewardModel.getClass().getSimpleName() + " returned "
          + (scored == null ? "null" : scored.length() + " scores") + " for " + b + " sequences");
    }
    double[] scores = scored.toDoubleVector();
    for (int i = 0; i < b; i++) {
      if (!Double.isFinite(scores[i])) {
        throw new RlhfException("the reward model " + rewardModel.getClass().getSimpleName() + " scored sequence " + i
            + " of the rollout " + scores[i] + "; NaN and infinite scores would poison the advantages and the update");
      }
    }
    return new GroupRollout(seq, p, n, length, hasEos, logp, logq, kl, scores);
  }
}
