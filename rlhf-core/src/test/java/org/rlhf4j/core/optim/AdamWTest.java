package org.rlhf4j.core.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;

class AdamWTest {
  private static GptModel tiny() {
    GptConfig c = GptConfig.builder().vocabSize(5).dModel(4).heads(2).layers(1).contextLength(4).build();
    return GptModel.randomInit(c, 1, new ModelOptions(DataType.DOUBLE, 1));
  }

  private static void fillGradients(GptModel m, long seed, double scale) {
    Random r = new Random(seed);
    INDArray g = m.gradients().flat().array();
    for (long i = 0; i < g.length(); i++) {
      g.putScalar(i, scale * r.nextGaussian());
    }
  }

  @Test
  void twoStepsMatchTheAdamWFormulaComputedByHand() {
    GptModel m = tiny();
    double lr = 0.01;
    double wd = 0.1;
    AdamWConfig cfg = AdamWConfig.builder().learningRate(lr).weightDecay(wd).maxGradNorm(0).betas(0.9, 0.99).eps(1e-8).build();
    int n = (int) m.parameters().flat().length();
    int decay = m.parameters().decayCount();
    double[] p = m.parameters().flat().array().toDoubleVector();
    double[] mom = new double[n];
    double[] vel = new double[n];
    try (AdamW opt = new AdamW(cfg, m)) {
      for (int t = 1; t <= 2; t++) {
        fillGradients(m, t, 0.5);
        double[] g = m.gradients().flat().array().toDoubleVector();
        for (int i = 0; i < n; i++) {
          if (i < decay) {
            p[i] -= lr * wd * p[i];
          }
          mom[i] = 0.9 * mom[i] + 0.1 * g[i];
          vel[i] = 0.99 * vel[i] + 0.01 * g[i] * g[i];
          double mhat = mom[i] / (1 - Math.pow(0.9, t));
          double vhat = vel[i] / (1 - Math.pow(0.99, t));
          p[i] -= lr * mhat / (Math.sqrt(vhat) + 1e-8);
        }
        StepOutcome o = opt.step(1.0);
        assertTrue(o.applied());
        assertEquals(t, o.step());
      }
    }
    assertArrayEquals(p, m.parameters().flat().array().toDoubleVector(), 1e-12);
  }

  @Test
  void weightDecayTouchesOnlyMatricesAndEmbeddings() {
    GptModel m = tiny();
    INDArray lnBefore = m.parameters().get("h.0.ln_1.weight").array().dup();
    INDArray wteBefore = m.parameters().get("wte").array().dup();
    try (AdamW opt = new AdamW(AdamWConfig.builder().learningRate(0.1).weightDecay(0.5).build(), m)) {
      opt.step(0.0); // zero gradients: only decay acts
    }
    assertEquals(lnBefore, m.parameters().get("h.0.ln_1.weight").array());
    assertEquals(0.0, m.parameters().get("wte").array().sub(wteBefore.mul(1 - 0.1 * 0.5)).amaxNumber().doubleValue(), 1e-15);
  }

  @Test
  void clipsTheGlobalNorm() {
    GptModel m = tiny();
    fillGradients(m, 3, 10.0);
    double before = m.gradients().flat().array().norm2Number().doubleValue();
    try (AdamW opt = new AdamW(AdamWConfig.builder().maxGradNorm(1.0).build(), m)) {
      StepOutcome o = opt.step(1.0);
      assertTrue(o.clipped());
      assertEquals(before, o.gradNorm(), 1e-9 * before);
    }
    assertEquals(1.0, m.gradients().flat().array().norm2Number().doubleValue(), 1e-5);
  }

  @Test
  void nonFiniteLossOrGradientIsSkippedAndNeverReachesTheWeights() {
    GptModel m = tiny();
    INDArray before = m.parameters().flat().array().dup();
    try (AdamW opt = new AdamW(AdamWConfig.builder().learningRate(0.1).build(), m)) {
      fillGradients(m, 4, 1.0);
      m.gradients().get("h.0.mlp.c_fc.bias").array().putScalar(3, Double.NaN);
      StepOutcome a = opt.step(1.0);
      assertFalse(a.applied());
      assertEquals(1, a.skippedTotal());
      fillGradients(m, 5, 1.0);
      m.gradients().get("wpe").array().putScalar(0, Double.POSITIVE_INFINITY);
      assertFalse(opt.step(1.0).applied());
      fillGradients(m, 6, 1.0);
      StepOutcome c = opt.step(Double.NaN);
      assertFalse(c.applied());
      assertEquals(3, opt.skippedCount());
      assertEquals(0, opt.stepCount());
      assertEquals(before, m.parameters().flat().array());
      assertTrue(opt.step(1.0).applied());
      assertEquals(1, opt.stepCount());
    }
  }

  /**
   * Values of Hugging Face's schedulers computed by hand: step k of this API is {@code
   * lr_lambda(k - 1)}; e.g. {@code get_linear_schedule_with_warmup(warmup 3, total 13)} gives 0,
   * 1/3, 2/3, then (13 - 3) / 10 = 1, 9/10, ..., 1/10 at the 13th and last step.
   */
  @Test
  void schedulesByHand() {
    LrSchedule lin = LrSchedule.linear(1.0, 3, 13);
    assertEquals(0.0, lin.lr(1), 1e-12);
    assertEquals(1 / 3.0, lin.lr(2), 1e-12);
    assertEquals(2 / 3.0, lin.lr(3), 1e-12);
    assertEquals(1.0, lin.lr(4), 1e-12);
    assertEquals(0.9, lin.lr(5), 1e-12);
    assertEquals(0.1, lin.lr(13), 1e-12); // the last step still learns
    assertEquals(0.0, lin.lr(14), 1e-12);
    assertEquals(0.0, lin.lr(20), 1e-12);
    LrSchedule cos = LrSchedule.cosine(2.0, 0, 10, 0.1);
    assertEquals(2.0, cos.lr(1), 1e-12);
    assertEquals(1.3781152949374527, cos.lr(5), 1e-12); // 2 (0.1 + 0.9 (1 + cos(0.4 pi)) / 2)
    assertEquals(0.24404913533436182, cos.lr(10), 1e-12); // 2 (0.1 + 0.9 (1 + cos(0.9 pi)) / 2)
    assertEquals(0.2, cos.lr(11), 1e-12);
    assertEquals(0.5, LrSchedule.constant(0.5).lr(100), 0);
    assertEquals(0.0, LrSchedule.constantWithWarmup(0.5, 2).lr(1), 1e-12);
    assertEquals(0.25, LrSchedule.constantWithWarmup(0.5, 2).lr(2), 1e-12);
    assertEquals(0.5, LrSchedule.constantWithWarmup(0.5, 2).lr(3), 1e-12);
    assertEquals(0.3, LrSchedule.linear(0.3, 0, 1).lr(1), 1e-12);
    assertThrows(IllegalArgumentException.class, () -> LrSchedule.constant(-1));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AdamWConfig.builder().betas(1.0, 0.9).build());
    assertTrue(e.getMessage().contains("beta1"), e.getMessage());
  }

  /** A run of one optimiser step with linear or cosine decay (e.g. a small reward-model round) learns. */
  @Test
  void aSingleStepRunWithDecayChangesTheWeights() {
    for (LrSchedule s : new LrSchedule[] {LrSchedule.linear(0.01, 0, 1), LrSchedule.cosine(0.01, 0, 1, 0)}) {
      GptModel m = tiny();
      INDArray before = m.parameters().flat().array().dup();
      try (AdamW opt = new AdamW(AdamWConfig.builder().schedule(s).maxGradNorm(0).build(), m)) {
        fillGradients(m, 7, 1.0);
        StepOutcome o = opt.step(1.0);
        assertTrue(o.applied());
        assertEquals(0.01, o.learningRate(), 1e-15, s.toString());
      }
      double moved = m.parameters().flat().array().sub(before).amaxNumber().doubleValue();
      assertTrue(moved > 1e-3, s + ": the only step must change the weights, moved " + moved);
    }
  }
}
