package org.rlhf4j.core.model.gpt2;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.TokenLogProbs;
import org.rlhf4j.core.testing.GradientCheck;

/**
 * Every parameter tensor's hand-written gradient against central finite differences in double
 * precision (relative error < 1e-5), for losses on the log-prob, entropy, value and logit outputs,
 * with and without padding, on one and on several shards.
 */
class GptGradientCheckTest {
  private static final double TOLERANCE = 1e-5;

  private static GptConfig tinyConfig() {
    return GptConfig.builder().vocabSize(11).dModel(8).heads(2).layers(2).contextLength(8).scalarHead(true).build();
  }

  /** A fixed random loss over all outputs, masked to real positions. */
  private static final class Loss {
    final INDArray wLogp;
    final INDArray wEnt;
    final INDArray wVal;
    final INDArray wLogits;
    final double temperature;

    Loss(TokenBatch batch, int vocab, long seed, double temperature, boolean useLogits) {
      Random r = new Random(seed);
      int b = batch.batchSize();
      int t = batch.length();
      this.temperature = temperature;
      wLogp = Nd4j.create(DataType.DOUBLE, b, t - 1);
      wEnt = Nd4j.create(DataType.DOUBLE, b, t - 1);
      wVal = Nd4j.create(DataType.DOUBLE, b, t);
      wLogits = useLogits ? Nd4j.create(DataType.DOUBLE, b, t, vocab) : null;
      for (int i = 0; i < b; i++) {
        for (int j = 0; j < t; j++) {
          boolean real = batch.mask(i, j) == 1;
          if (j < t - 1 && real && batch.mask(i, j + 1) == 1) {
            wLogp.putScalar(i, j, r.nextGaussian());
            wEnt.putScalar(i, j, r.nextGaussian());
          }
          if (real) {
            wVal.putScalar(i, j, r.nextGaussian());
            if (useLogits) {
              for (int v = 0; v < vocab; v++) {
                wLogits.putScalar(new int[] {i, j, v}, r.nextGaussian());
              }
            }
          }
        }
      }
    }

    double value(GptModel m, TokenBatch batch) {
      ForwardPass p = m.forward(batch);
      TokenLogProbs lp = p.tokenLogProbs(temperature);
      double loss = lp.logProbs().mul(wLogp).sumNumber().doubleValue()
          + lp.entropy().mul(wEnt).sumNumber().doubleValue()
          + p.values().mul(wVal).sumNumber().doubleValue();
      if (wLogits != null) {
        loss += p.logits().mul(wLogits).sumNumber().doubleValue();
      }
      return loss;
    }

    void backward(GptModel m, TokenBatch batch) {
      m.zeroGradients();
      ForwardPass p = m.forward(batch);
      p.tokenLogProbs(temperature);
      p.backward(new OutputGradients(wLogp, wEnt, wVal, wLogits));
    }
  }

  private static TokenBatch paddedBatch() {
    return TokenBatch.of(
        3,
        6,
        new int[] {10, 10, 3, 4, 5, 6, /* left-padded */ 1, 2, 3, 4, 0, 0, /* right-padded */ 7, 8, 9, 1, 2, 3},
        new int[] {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1});
  }

  private static void checkAllParameters(GptModel model, TokenBatch batch, Loss loss) {
    loss.backward(model, batch);
    for (ParameterLayout.Entry e : model.parameters().layout().entries()) {
      INDArray param = model.parameters().get(e.name()).array();
      INDArray grad = model.gradients().get(e.name()).array().dup();
      GradientCheck.assertMatches(e.name(), param, grad, () -> loss.value(model, batch), TOLERANCE);
    }
  }

  @Test
  void allParametersWithPaddingOnOneShard() {
    GptModel model = GptModel.randomInit(tinyConfig(), 7, new ModelOptions(DataType.DOUBLE, 1));
    perturbNonTrivially(model);
    TokenBatch batch = paddedBatch();
    checkAllParameters(model, batch, new Loss(batch, 11, 1, 0.7, false));
  }

  @Test
  void allParametersWithPaddingOnShardsAndLogitLoss() {
    GptModel model = GptModel.randomInit(tinyConfig(), 8, new ModelOptions(DataType.DOUBLE, 2));
    perturbNonTrivially(model);
    TokenBatch batch = paddedBatch();
    checkAllParameters(model, batch, new Loss(batch, 11, 2, 1.0, true));
  }

  @Test
  void allParametersWithoutPadding() {
    GptModel model = GptModel.randomInit(tinyConfig(), 9, new ModelOptions(DataType.DOUBLE, 1));
    perturbNonTrivially(model);
    TokenBatch batch = TokenBatch.unpadded(new int[][] {{1, 2, 3, 4, 5, 6, 7}, {7, 6, 5, 4, 3, 2, 1}});
    checkAllParameters(model, batch, new Loss(batch, 11, 3, 1.3, false));
  }

  /**
   * Sequences of 18 positions (from 16 on, the attention products are computed in causal row
   * blocks, {@link ShardMath#causalCuts}), one left-padded and one with a hidden key in the middle,
   * on one shard and split across threads by heads.
   */
  @Test
  void allParametersOnLongerSequencesComputedInCausalBlocks() throws Exception {
    GptConfig cfg = tinyConfig().toBuilder().contextLength(20).build();
    assertEquals(3, ShardMath.causalCuts(18).length);
    int t = 18;
    int[] ids = new int[2 * t];
    int[] mask = new int[2 * t];
    for (int j = 0; j < t; j++) {
      ids[j] = (3 * j + 1) % 11;
      mask[j] = j < 5 ? 0 : 1; // left-padded by 5
      ids[t + j] = (5 * j + 2) % 11;
      mask[t + j] = j == 9 ? 0 : 1; // one hidden key in the middle
    }
    TokenBatch batch = TokenBatch.of(2, t, ids, mask);
    GptModel model = GptModel.randomInit(cfg, 12, new ModelOptions(DataType.DOUBLE, 1));
    perturbNonTrivially(model);
    checkAllParameters(model, batch, new Loss(batch, 11, 7, 0.8, true));
    long saved = setMinSplitWork(1);
    try {
      TokenBatch one = TokenBatch.of(1, t, java.util.Arrays.copyOf(ids, t), java.util.Arrays.copyOf(mask, t));
      GptModel split = GptModel.randomInit(cfg, 13, new ModelOptions(DataType.DOUBLE, 2));
      perturbNonTrivially(split);
      checkAllParameters(split, one, new Loss(one, 11, 8, 1.0, false));
    } finally {
      setMinSplitWork(saved);
    }
  }

  @Test
  void shardedGradientsEqualUnsharded() {
    GptModel one = GptModel.randomInit(tinyConfig(), 5, new ModelOptions(DataType.DOUBLE, 1));
    GptModel three = GptModel.randomInit(tinyConfig(), 5, new ModelOptions(DataType.DOUBLE, 3));
    TokenBatch batch = paddedBatch();
    Loss loss = new Loss(batch, 11, 4, 1.0, false);
    loss.backward(one, batch);
    loss.backward(three, batch);
    INDArray a = one.gradients().flat().array();
    INDArray b = three.gradients().flat().array();
    assertEquals(0.0, a.sub(b).amaxNumber().doubleValue(), 1e-12 * a.amaxNumber().doubleValue());
    // Again, and then a second pass accumulated without zeroing: the shards' private gradients were
    // summed into the model's and cleared after each pass, so nothing of an earlier pass is counted twice.
    INDArray first = b.dup();
    loss.backward(three, batch);
    assertEquals(first, three.gradients().flat().array(), "the same pass again gives the same gradients");
    ForwardPass p = three.forward(batch);
    p.tokenLogProbs(loss.temperature);
    p.backward(new OutputGradients(loss.wLogp, loss.wEnt, loss.wVal, loss.wLogits));
    INDArray twice = three.gradients().flat().array();
    assertEquals(0.0, twice.sub(first.mul(2)).amaxNumber().doubleValue(), 1e-12 * a.amaxNumber().doubleValue(), "two passes accumulate");
  }

  /**
   * One sequence on three threads: the products are split by output columns and attention by heads
   * (the split threshold lowered so that this tiny model's products split too).
   */
  @Test
  void allParametersOnOneSequenceSplitAcrossThreads() throws Exception {
    long saved = setMinSplitWork(1);
    try {
      GptModel model = GptModel.randomInit(tinyConfig(), 10, new ModelOptions(DataType.DOUBLE, 3));
      perturbNonTrivially(model);
      TokenBatch batch = TokenBatch.unpadded(new int[][] {{1, 2, 3, 4, 5, 6, 7}});
      checkAllParameters(model, batch, new Loss(batch, 11, 5, 0.9, true));
      GptModel one = GptModel.randomInit(tinyConfig(), 10, new ModelOptions(DataType.DOUBLE, 1));
      perturbNonTrivially(one);
      Loss loss = new Loss(batch, 11, 6, 1.0, true);
      model.zeroGradients();
      loss.backward(model, batch);
      loss.backward(one, batch);
      INDArray a = one.gradients().flat().array();
      INDArray b = model.gradients().flat().array();
      assertEquals(0.0, a.sub(b).amaxNumber().doubleValue(), 1e-12 * a.amaxNumber().doubleValue());
    } finally {
      setMinSplitWork(saved);
    }
  }

  /** Sets {@code Blas.minSplitWork} (package-private in another package) and returns the old value. */
  static long setMinSplitWork(long value) throws Exception {
    java.lang.reflect.Field f = org.rlhf4j.core.tensor.Blas.class.getDeclaredField("minSplitWork");
    f.setAccessible(true);
    long old = f.getLong(null);
    f.setLong(null, value);
    return old;
  }

  /** Random LayerNorm gains/biases and head bias, so no gradient path is degenerate at init. */
  static void perturbNonTrivially(GptModel m) {
    Random r = new Random(42);
    for (ParameterLayout.Entry e : m.parameters().layout().entries()) {
      if (!e.decay()) {
        INDArray p = m.parameters().get(e.name()).array();
        INDArray noise = Nd4j.create(DataType.DOUBLE, p.shape());
        for (long i = 0; i < p.length(); i++) {
          noise.putScalar(i, 0.3 * r.nextGaussian());
        }
        p.addi(noise);
      }
    }
    // Larger weights than GPT-2's 0.02 make attention and GELU non-linear enough to be tested.
    m.parameters().flat().array().get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, m.parameters().decayCount())).muli(10);
  }
}
