package org.rlhf4j.spark;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.ppo.Rollout;
import org.rlhf4j.ppo.KlEstimator;
import org.rlhf4j.ppo.RolloutCollector;

/**
 * What travels between the driver and the executors with a rollout job besides the broadcast
 * models: primitive arrays only (Spark ships task closures and results with its serializer).
 */
final class RolloutWire {
  private RolloutWire() {}

  /** A {@link SamplingConfig}'s fields. */
  record Sampling(double temperature, int topK, double topP, boolean greedy, int maxNewTokens, int minNewTokens,
      int[] stopTokens) implements Serializable {
    private static final long serialVersionUID = 1L;

    static Sampling of(SamplingConfig s) {
      return new Sampling(s.temperature(), s.topK(), s.topP(), s.greedy(), s.maxNewTokens(), s.minNewTokens(),
          s.stopTokens().stream().mapToInt(Integer::intValue).toArray());
    }

    SamplingConfig config() {
      return SamplingConfig.builder().temperature(temperature).topK(topK).topP(topP).greedy(greedy)
          .maxNewTokens(maxNewTokens).minNewTokens(minNewTokens).stopTokens(stopTokens).build();
    }
  }

  /** Where a collector's values come from: none, the policy's value head, or a separate critic. */
  enum Values {
    NONE, POLICY, CRITIC;

    static Values of(RolloutCollector c) {
      return c.valueModel().map(m -> m == c.policy() ? POLICY : CRITIC).orElse(NONE);
    }
  }

  /** The sampling, KL and value settings of a {@link RolloutCollector}. */
  record Spec(Sampling samplingFields, double logProbTemperature, String klEstimator, int padId, int stopToken,
      Values values) implements Serializable {
    private static final long serialVersionUID = 1L;

    static Spec of(RolloutCollector c) {
      return new Spec(Sampling.of(c.sampling()), c.temperature(), c.klEstimator().name(), c.padId(), c.stopToken(),
          Values.of(c));
    }

    SamplingConfig sampling() {
      return samplingFields.config();
    }

    KlEstimator estimator() {
      return KlEstimator.valueOf(klEstimator);
    }
  }

  /** One prompt's group: {@code groupSize} copies of its tokens and its seed; {@code index} orders the step. */
  record Unit(int index, int[] prompt, int groupSize, long seed) implements Serializable {
    private static final long serialVersionUID = 1L;

    List<int[]> prompts() {
      List<int[]> out = new ArrayList<>(groupSize);
      for (int i = 0; i < groupSize; i++) {
        out.add(prompt);
      }
      return out;
    }
  }

  /**
   * A unit's rollout as arrays ({@code [B, P+N]} row-major tokens, {@code [B*N]} per-token values):
   * everything a collected rollout has, the entropies and the values (empty arrays when the rollout
   * has none) and the count of clamped KL estimates included.
   */
  record Result(int index, int promptLength, int steps, int[] ids, int[] mask, int[] length, boolean[] hasEos,
      double[] logProbs, double[] refLogProbs, double[] kl, double[] scores, boolean hasEntropy, double[] entropy,
      boolean hasValues, double[] values, int klClamped, int modelsBuilt, double buildSeconds,
      double rolloutSeconds, int attempt) implements Serializable {
    private static final long serialVersionUID = 1L;

    static Result of(int index, Rollout r, int modelsBuilt, double buildSeconds, double rolloutSeconds,
        int attempt) {
      TokenBatch s = r.sequences();
      return new Result(index, r.promptLength(), r.steps(), s.ids(), s.mask(), r.length(), r.hasEos(),
          flat(r.logProbs()), flat(r.refLogProbs()), flat(r.kl()), r.scores(), r.hasEntropy(),
          r.hasEntropy() ? flat(r.entropy()) : new double[0], r.hasValues(),
          r.hasValues() ? flat(r.values()) : new double[0], r.klClampedTokens(), modelsBuilt, buildSeconds,
          rolloutSeconds, attempt);
    }

    Rollout toRollout() {
      int b = length.length;
      int w = promptLength + steps;
      Rollout.Builder rb = Rollout.builder(TokenBatch.of(b, w, ids, mask), promptLength, steps).length(length)
          .hasEos(hasEos).logProbs(rows(logProbs, b, steps)).refLogProbs(rows(refLogProbs, b, steps))
          .kl(rows(kl, b, steps)).scores(scores).klClampedTokens(klClamped);
      if (hasEntropy) {
        rb.entropy(rows(entropy, b, steps));
      }
      if (hasValues) {
        rb.values(rows(values, b, steps));
      }
      return rb.build();
    }

    private static double[] flat(double[][] a) {
      int n = a.length == 0 ? 0 : a[0].length;
      double[] out = new double[a.length * n];
      for (int i = 0; i < a.length; i++) {
        System.arraycopy(a[i], 0, out, i * n, n);
      }
      return out;
    }

    private static double[][] rows(double[] a, int b, int n) {
      if (a.length != b * n) {
        throw new IllegalArgumentException("a result has " + a.length + " per-token values, expected " + b + " x " + n);
      }
      double[][] out = new double[b][n];
      for (int i = 0; i < b; i++) {
        System.arraycopy(a, i * n, out[i], 0, n);
      }
      return out;
    }
  }
}
