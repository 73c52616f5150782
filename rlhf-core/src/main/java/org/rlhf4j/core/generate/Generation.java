package org.rlhf4j.core.generate;

import com.google.common.collect.ImmutableList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.TokenBatch;

/**
 * The result of {@link Generator#generate}: for each of B left-padded prompts of padded length P, the
 * N new tokens (N is the number of steps run), the mask of generated positions and the sampled
 * tokens' log-probabilities. A sequence that produced a stop token ends with it; later positions are
 * padding. Immutable.
 */
public final class Generation {
  private final TokenBatch prompts;
  private final int[][] responses;
  private final double[][] logProbs;
  private final boolean[] stopped;
  private final int steps;
  private final int padId;

  Generation(TokenBatch prompts, int[][] responses, double[][] logProbs, boolean[] stopped, int steps, int padId) {
    this.prompts = prompts;
    this.responses = responses;
    this.logProbs = logProbs;
    this.stopped = stopped;
    this.steps = steps;
    this.padId = padId;
  }

  /** The left-padded prompts. */
  public TokenBatch prompts() {
    return prompts;
  }

  /** The number of sequences, B. */
  public int batchSize() {
    return responses.length;
  }

  /** The number of generation steps run, N (at most {@code maxNewTokens}). */
  public int steps() {
    return steps;
  }

  /** The generated tokens of sequence {@code b}, the stop token included if one was produced. */
  public int[] response(int b) {
    return responses[b].clone();
  }

  /** All responses. */
  public List<int[]> responses() {
    ImmutableList.Builder<int[]> l = ImmutableList.builder();
    for (int[] r : responses) {
      l.add(r.clone());
    }
    return l.build();
  }

  /** Whether sequence {@code b} ended with a stop token (rather than running out of steps). */
  public boolean stopped(int b) {
    return stopped[b];
  }

  /** The log-probabilities of sequence {@code b}'s sampled tokens (temperature-scaled distribution). */
  public double[] logProbs(int b) {
    return logProbs[b].clone();
  }

  /**
   * Prompt and response as one batch {@code [B, P+N]}: ids (padding where nothing was generated)
   * and the attention mask (the prompt's mask, then 1 for generated tokens).
   */
  public TokenBatch sequences() {
    int p = prompts.length();
    int t = p + steps;
    int b = batchSize();
    int[] ids = new int[b * t];
    int[] mask = new int[b * t];
    Arrays.fill(ids, padId);
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < p; j++) {
        ids[i * t + j] = prompts.id(i, j);
        mask[i * t + j] = prompts.mask(i, j);
      }
      for (int j = 0; j < responses[i].length; j++) {
        ids[i * t + p + j] = responses[i][j];
        mask[i * t + p + j] = 1;
      }
    }
    return TokenBatch.of(b, t, ids, mask);
  }

  /** {@code [B, P+N]} ints: 1 at generated positions, 0 at prompt and padding positions. */
  public INDArray generatedMask() {
    int p = prompts.length();
    int t = p + steps;
    int[] m = new int[batchSize() * t];
    for (int i = 0; i < batchSize(); i++) {
      Arrays.fill(m, i * t + p, i * t + p + responses[i].length, 1);
    }
    return Nd4j.createFromArray(m).reshape(batchSize(), t);
  }

  /** {@code [B, N]} doubles: the sampled tokens' log-probabilities, 0 after a sequence ended. */
  public INDArray logProbsArray() {
    double[] m = new double[batchSize() * steps];
    for (int i = 0; i < batchSize(); i++) {
      System.arraycopy(logProbs[i], 0, m, i * steps, logProbs[i].length);
    }
    return Nd4j.createFromArray(m).reshape(batchSize(), steps);
  }
}
