package org.rlhf4j.reward.dpo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.testing.GradientCheck;

/** The DPO losses against hand-computed values, and their gradients against finite differences in double. */
class DpoLossTest {
  private static final double[] ONE = {1.0};

  @Test
  void sigmoidLossAndStatisticsMatchHandComputedValues() {
    // h = (-1 - -1.5) - (-2 - -1.5) = 1, beta h = 0.5, loss = log(1 + e^-0.5)
    DpoLoss.Result r = DpoLoss.compute(new double[] {-1}, new double[] {-2}, new double[] {-1.5}, new double[] {-1.5}, ONE, 0.5, DpoLoss.Type.SIGMOID, 0);
    assertEquals(0.4740769841801067, r.loss(), 1e-12);
    assertEquals(0.25, r.meanChosenReward(), 1e-12);
    assertEquals(-0.25, r.meanRejectedReward(), 1e-12);
    assertEquals(0.5, r.margin(), 1e-12);
    assertEquals(1.0, r.accuracy());
    assertEquals(-1, r.meanPolicyChosen(), 1e-12);
    assertEquals(-2, r.meanPolicyRejected(), 1e-12);
    // dL/dpc = -beta sigma(-beta h) = -0.5 / (1 + e^0.5)
    assertEquals(-0.5 / (1 + Math.exp(0.5)), r.gradPolicyChosen()[0], 1e-12);
    assertEquals(0.5 / (1 + Math.exp(0.5)), r.gradPolicyRejected()[0], 1e-12);
  }

  @Test
  void labelSmoothingAndIpoMatchHandComputedValues() {
    // cDPO, eps 0.1: 0.9 log(1 + e^-0.5) + 0.1 log(1 + e^0.5)
    DpoLoss.Result c = DpoLoss.compute(new double[] {-1}, new double[] {-2}, new double[] {-1.5}, new double[] {-1.5}, ONE, 0.5, DpoLoss.Type.SIGMOID, 0.1);
    assertEquals(0.9 * 0.4740769841801067 + 0.1 * 0.9740769841801067, c.loss(), 1e-12);
    // IPO, beta 0.25: (h - 1/(2 beta))^2 = (1 - 2)^2 = 1, dL/dh = 2 (1 - 2) = -2
    DpoLoss.Result i = DpoLoss.compute(new double[] {-1}, new double[] {-2}, new double[] {-1.5}, new double[] {-1.5}, ONE, 0.25, DpoLoss.Type.IPO, 0);
    assertEquals(1.0, i.loss(), 1e-12);
    assertArrayEquals(new double[] {-2}, i.gradPolicyChosen(), 1e-12);
    assertArrayEquals(new double[] {2}, i.gradPolicyRejected(), 1e-12);
    // at the IPO target margin the loss and gradient vanish
    assertEquals(0.0, DpoLoss.pairLoss(2.0, 0.25, DpoLoss.Type.IPO, 0), 1e-15);
  }

  @Test
  void pairWeightsGiveAWeightedMeanAndAccuracyCountsPairs() {
    // pair 0: h = 1, pair 1: h = -2 (wrong order); weights 3:1
    double[] pc = {0, 0};
    double[] pr = {-1, 2};
    double[] ref = {0, 0};
    DpoLoss.Result r = DpoLoss.compute(pc, pr, ref, ref, new double[] {3, 1}, 1.0, DpoLoss.Type.SIGMOID, 0);
    assertEquals(0.75 * Math.log1p(Math.exp(-1)) + 0.25 * Math.log1p(Math.exp(2)), r.loss(), 1e-12);
    assertEquals(0.5, r.accuracy());
  }

  @Test
  void extremeMarginsStayFinite() {
    DpoLoss.Result r = DpoLoss.compute(new double[] {0}, new double[] {-5000}, new double[] {0}, new double[] {0}, ONE, 1.0, DpoLoss.Type.SIGMOID, 0);
    assertEquals(0.0, r.loss(), 1e-300);
    DpoLoss.Result w = DpoLoss.compute(new double[] {-5000}, new double[] {0}, new double[] {0}, new double[] {0}, ONE, 1.0, DpoLoss.Type.SIGMOID, 0);
    assertEquals(5000.0, w.loss(), 1e-9);
    assertEquals(-1.0, w.gradPolicyChosen()[0], 1e-12);
  }

  @Test
  void gradientsMatchFiniteDifferencesForEveryVariant() {
    Random rnd = new Random(11);
    int p = 7;
    double[] pc = new double[p];
    double[] pr = new double[p];
    double[] rc = new double[p];
    double[] rr = new double[p];
    double[] w = new double[p];
    for (int i = 0; i < p; i++) {
      pc[i] = -10 + 3 * rnd.nextGaussian();
      pr[i] = -10 + 3 * rnd.nextGaussian();
      rc[i] = -10 + 3 * rnd.nextGaussian();
      rr[i] = -10 + 3 * rnd.nextGaussian();
      w[i] = 0.2 + rnd.nextDouble();
    }
    record Variant(DpoLoss.Type type, double beta, double eps) {}
    for (Variant v : new Variant[] {new Variant(DpoLoss.Type.SIGMOID, 0.1, 0), new Variant(DpoLoss.Type.SIGMOID, 0.5, 0.2), new Variant(DpoLoss.Type.IPO, 0.3, 0)}) {
      DpoLoss.Result r = DpoLoss.compute(pc, pr, rc, rr, w, v.beta(), v.type(), v.eps());
      double[] analytic = new double[2 * p];
      System.arraycopy(r.gradPolicyChosen(), 0, analytic, 0, p);
      System.arraycopy(r.gradPolicyRejected(), 0, analytic, p, p);
      double[] numeric = new double[2 * p];
      double h = 1e-5;
      for (int i = 0; i < 2 * p; i++) {
        double[] target = i < p ? pc : pr;
        int j = i % p;
        double orig = target[j];
        target[j] = orig + h;
        double plus = DpoLoss.compute(pc, pr, rc, rr, w, v.beta(), v.type(), v.eps()).loss();
        target[j] = orig - h;
        double minus = DpoLoss.compute(pc, pr, rc, rr, w, v.beta(), v.type(), v.eps()).loss();
        target[j] = orig;
        numeric[i] = (plus - minus) / (2 * h);
      }
      double err = GradientCheck.relativeError(analytic, numeric);
      assertTrue(err < 1e-5, v + ": relative error " + err);
    }
  }

  @Test
  void badInputIsNamed() {
    double[] one = {0};
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DpoLoss.compute(one, new double[] {0, 1}, one, one, ONE, 0.1, DpoLoss.Type.SIGMOID, 0));
    assertTrue(e.getMessage().contains("policyRejected has 2 entries, expected 1"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> DpoLoss.compute(new double[] {Double.NaN}, one, one, one, ONE, 0.1, DpoLoss.Type.SIGMOID, 0));
    assertTrue(e.getMessage().contains("policyChosen[0] is not finite"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> DpoLoss.compute(one, one, one, one, ONE, 0, DpoLoss.Type.SIGMOID, 0));
    assertTrue(e.getMessage().contains("beta must be positive"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> DpoLoss.compute(one, one, one, one, ONE, 0.1, DpoLoss.Type.IPO, 0.1));
    assertTrue(e.getMessage().contains("labelSmoothing applies to the SIGMOID loss only"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> DpoLoss.compute(one, one, one, one, new double[] {-1}, 0.1, DpoLoss.Type.SIGMOID, 0));
    assertTrue(e.getMessage().contains("weights[0]"), e.getMessage());
  }
}
