package org.rlhf4j.core.generate;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tensor.Tensor;

/**
 * Batched sampling with a key/value cache. Prompts of different lengths are left-padded; every step
 * feeds one token per sequence. A sequence stops at a stop token (kept) or after {@code
 * maxNewTokens}; generation ends when all have stopped. The same seed gives the same samples.
 */
public final class Generator {
  private Generator() {}

  /** Samples continuations of {@code prompts} (token ids, no padding) with a seeded RNG. */
  public static Generation generate(CausalLm model, List<int[]> prompts, SamplingConfig cfg, long seed, int padId) {
    return generate(model, TokenBatch.leftPadded(prompts, padId), cfg, new SplittableRandom(seed), padId);
  }

  /**
   * Samples continuations of left-padded {@code prompts}.
   *
   * @param padId the id written after a sequence has stopped (masked out)
   * @throws RlhfException if prompt length plus {@code maxNewTokens} exceeds the context length
   */
  public static Generation generate(CausalLm model, TokenBatch prompts, SamplingConfig cfg, RandomGenerator rng, int padId) {
    int b = prompts.batchSize();
    int p = prompts.length();
    int n = cfg.maxNewTokens();
    int v = model.vocabSize();
    checkArgument(padId >= 0 && padId < v, "padId %s is outside the vocabulary", padId);
    if (p + n > model.contextLength()) {
      throw new RlhfException(
          "prompt length " + p + " plus maxNewTokens " + n + " exceeds the model's context length "
              + model.contextLength());
    }
    int[][] out = new int[b][n];
    double[][] lps = new double[b][n];
    int[] lengths = new int[b];
    boolean[] stopped = new boolean[b];
    TokenSampler sampler = new TokenSampler(cfg, v);
    int[] next = new int[b];
    int steps = 0;
    try (DecodeSession session = model.newDecodeSession(b, p + n)) {
      INDArray logits = session.prefill(prompts);
      for (int step = 0; step < n; step++) {
        Tensor rows = Tensor.of(logits);
        boolean anyActive = false;
        for (int i = 0; i < b; i++) {
          if (stopped[i]) {
            next[i] = padId;
            continue;
          }
          double[] row = sampler.logitsRow();
          rows.copyTo(i * v, row, v);
          if (step < cfg.minNewTokens()) {
            for (int stop : cfg.stopTokens()) {
              if (stop < v) {
                row[stop] = Double.NEGATIVE_INFINITY;
              }
            }
          }
          TokenSampler.Choice c = sampler.choose(rng);
          out[i][lengths[i]] = c.token();
          lps[i][lengths[i]] = c.logProb();
          lengths[i]++;
          next[i] = c.token();
          if (cfg.stopTokens().contains(c.token())) {
            stopped[i] = true;
          } else {
            anyActive = true;
          }
        }
        steps = step + 1;
        if (!anyActive || step == n - 1) {
          break;
        }
        logits = session.step(next);
      }
    }
    for (int i = 0; i < b; i++) {
      out[i] = Arrays.copyOf(out[i], lengths[i]);
      lps[i] = Arrays.copyOf(lps[i], lengths[i]);
    }
    return new Generation(prompts, out, lps, stopped, steps, padId);
  }
}
