package org.rlhf4j.core.model.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.TokenLogProbs;
import org.rlhf4j.core.testing.GradientCheck;

/**
 * Every parameter tensor's hand-written gradient of the Llama family against central finite
 * differences in double precision (relative error < 1e-5): embeddings (tied and untied LM head),
 * RMSNorm gains, q/k/v/o projections with grouped-query (KV = 2 of 4 heads) and multi-query (KV = 1)
 * attention, q/k/v biases, the SwiGLU MLP's gate/up/down, the scalar head; default and Llama-3
 * rotary frequencies; losses on log-probs, entropy, values and raw logits; left and right padding.
 */
class LlamaGradientCheckTest {
  private static final double TOLERANCE = 1e-5;

  /** GQA, untied head, Llama-3 rope scaling, a head width other than d/H, scalar head. */
  static LlamaConfig gqaConfig() {
    return LlamaConfig.builder()
        .vocabSize(11)
        .hiddenSize(8)
        .intermediateSize(12)
        .layers(2)
        .heads(4)
        .kvHeads(2)
        .headDim(6)
        .contextLength(8)
        .rmsNormEps(1e-5)
        .ropeTheta(50)
        .llama3Scaling(new LlamaConfig.Llama3Scaling(4, 1, 4, 8))
        .scalarHead(true)
        .build();
  }

  /** Qwen2-like: q/k/v biases, tied head; with one key/value head (multi-query). */
  static LlamaConfig qwenMqaConfig() {
    return LlamaConfig.builder()
        .family(LlamaConfig.Family.QWEN2)
        .vocabSize(11)
        .hiddenSize(8)
        .intermediateSize(10)
        .layers(2)
        .heads(2)
        .kvHeads(1)
        .contextLength(8)
        .rmsNormEps(1e-6)
        .ropeTheta(100)
        .qkvBias(true)
        .tiedEmbeddings(true)
        .scalarHead(true)
        .build();
  }

  /** A fixed random loss over all outputs, masked to real positions. */
  static final class Loss {
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

    double value(LlamaModel m, TokenBatch batch) {
      LlamaForwardPass p = m.forward(batch);
      TokenLogProbs lp = p.tokenLogProbs(temperature);
      double loss = lp.logProbs().mul(wLogp).sumNumber().doubleValue()
          + lp.entropy().mul(wEnt).sumNumber().doubleValue()
          + p.values().mul(wVal).sumNumber().doubleValue();
      if (wLogits != null) {
        loss += p.logits().mul(wLogits).sumNumber().doubleValue();
      }
      return loss;
    }

    void backward(LlamaModel m, TokenBatch batch) {
      m.zeroGradients();
      LlamaForwardPass p = m.forward(batch);
      p.tokenLogProbs(temperature);
      p.backward(new OutputGradients(wLogp, wEnt, wVal, wLogits));
    }
  }

  static TokenBatch paddedBatch() {
    return TokenBatch.of(
        3,
        6,
        new int[] {10, 10, 3, 4, 5, 6, /* left-padded */ 1, 2, 3, 4, 0, 0, /* right-padded */ 7, 8, 9, 1, 2, 3},
        new int[] {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1});
  }

  /** A model with weights large enough that attention, SiLU and RMSNorm are non-linear, and non-trivial gains and biases. */
  static LlamaModel model(LlamaConfig c, long seed, int threads) {
    LlamaModel m = LlamaModel.randomInit(c, seed, 0.4, new ModelOptions(DataType.DOUBLE, threads));
    Random r = new Random(seed + 1);
    for (ParameterLayout.Entry e : m.parameters().layout().entries()) {
      if (!e.decay()) {
        INDArray p = m.parameters().get(e.name()).array();
        for (long i = 0; i < p.length(); i++) {
          p.putScalar(i, p.getDouble(i) + 0.3 * r.nextGaussian());
        }
      }
    }
    return m;
  }

  private static void checkAllParameters(LlamaModel model, TokenBatch batch, Loss loss) {
    loss.backward(model, batch);
    Set<String> kinds = new TreeSet<>();
    for (ParameterLayout.Entry e : model.parameters().layout().entries()) {
      INDArray param = model.parameters().get(e.name()).array();
      INDArray grad = model.gradients().get(e.name()).array().dup();
      GradientCheck.assertMatches(e.name(), param, grad, () -> loss.value(model, batch), TOLERANCE);
      kinds.add(e.name().replaceAll("\\.\\d+\\.", ".N."));
    }
    assertTrue(kinds.size() >= 11, "parameter kinds checked: " + kinds);
  }

  @Test
  void gqaLlama3RopeUntiedWithPaddingAndLogitLoss() {
    try (LlamaModel model = model(gqaConfig(), 7, 1)) {
      TokenBatch batch = paddedBatch();
      checkAllParameters(model, batch, new Loss(batch, 11, 1, 0.7, true));
    }
  }

  @Test
  void qwenBiasesTiedHeadMultiQueryWithPadding() {
    try (LlamaModel model = model(qwenMqaConfig(), 8, 1)) {
      TokenBatch batch = paddedBatch();
      checkAllParameters(model, batch, new Loss(batch, 11, 2, 1.3, false));
    }
  }

  @Test
  void plainMultiHeadDefaultRopeWithoutPadding() {
    LlamaConfig c = LlamaConfig.builder().vocabSize(11).hiddenSize(8).intermediateSize(8).layers(1).heads(2).contextLength(8).scalarHead(true).build();
    try (LlamaModel model = model(c, 9, 1)) {
      TokenBatch batch = TokenBatch.unpadded(new int[][] {{1, 2, 3, 4, 5, 6, 7}, {7, 6, 5, 4, 3, 2, 1}});
      checkAllParameters(model, batch, new Loss(batch, 11, 3, 1.0, true));
    }
  }

  /**
   * Products, attention groups and the element-wise kernels (RMSNorm and its backward, SwiGLU, the
   * log-probability head) split over three threads (split thresholds lowered) give the single-thread
   * gradients.
   */
  @Test
  void threadedProductsGiveTheSameGradients() throws Exception {
    long saved = setMinSplitWork(1);
    long savedElements = LlamaMath.minElements;
    LlamaMath.minElements = 1;
    try (LlamaModel one = model(gqaConfig(), 5, 1);
        LlamaModel three = model(gqaConfig(), 5, 3)) {
      TokenBatch batch = paddedBatch();
      Loss loss = new Loss(batch, 11, 4, 1.0, true);
      loss.backward(one, batch);
      loss.backward(three, batch);
      INDArray a = one.gradients().flat().array();
      INDArray b = three.gradients().flat().array();
      assertTrue(a.amaxNumber().doubleValue() > 0);
      assertEquals(0.0, a.sub(b).amaxNumber().doubleValue(), 1e-12 * a.amaxNumber().doubleValue());
    } finally {
      setMinSplitWork(saved);
      LlamaMath.minElements = savedElements;
    }
  }

  /** The gradient check with every kernel split over three threads (thresholds lowered). */
  @Test
  void gradientCheckWithEverythingSplitOverThreeThreads() throws Exception {
    long saved = setMinSplitWork(1);
    long savedElements = LlamaMath.minElements;
    LlamaMath.minElements = 1;
    try (LlamaModel model = model(gqaConfig(), 12, 3)) {
      TokenBatch batch = paddedBatch();
      checkAllParameters(model, batch, new Loss(batch, 11, 6, 0.9, true));
    } finally {
      setMinSplitWork(saved);
      LlamaMath.minElements = savedElements;
    }
  }

  /** Gradients accumulate over backward passes until zeroGradients(). */
  @Test
  void gradientsAccumulate() {
    try (LlamaModel m = model(qwenMqaConfig(), 6, 1)) {
      TokenBatch batch = paddedBatch();
      Loss loss = new Loss(batch, 11, 5, 1.0, false);
      loss.backward(m, batch);
      INDArray once = m.gradients().flat().array().dup();
      LlamaForwardPass p = m.forward(batch);
      p.tokenLogProbs(loss.temperature);
      p.backward(new OutputGradients(loss.wLogp, loss.wEnt, loss.wVal, null));
      INDArray twice = m.gradients().flat().array();
      assertEquals(0.0, twice.sub(once.mul(2)).amaxNumber().doubleValue(), 1e-12 * once.amaxNumber().doubleValue());
    }
  }

  static long setMinSplitWork(long value) throws Exception {
    java.lang.reflect.Field f = org.rlhf4j.core.tensor.Blas.class.getDeclaredField("minSplitWork");
    f.setAccessible(true);
    long old = f.getLong(null);
    f.setLong(null, value);
    return old;
  }
}
