package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;

/** GAE, the clipped losses, the KL estimators, whitening and the KL controller, against numbers computed by hand. */
class PpoMathTest {

  @Test
  void gaeByHand() {
    double[][] rewards = {{1, 0, 2}, {0.5, -1, 0}};
    double[][] values = {{0.5, 0.2, 0.1}, {0.3, 0.4, 9}};
    Gae.Result g = Gae.compute(rewards, values, new int[] {3, 2}, 1.0, 0.95);
    // row 0: A2 = 2 - 0.1 = 1.9 ; A1 = (0 + 0.1 - 0.2) + 0.95 * 1.9 = 1.705 ; A0 = (1 + 0.2 - 0.5) + 0.95 * 1.705
    assertArrayEquals(new double[] {0.7 + 0.95 * 1.705, 1.705, 1.9}, g.advantages()[0], 1e-12);
    assertArrayEquals(new double[] {0.7 + 0.95 * 1.705 + 0.5, 1.905, 2.0}, g.returns()[0], 1e-12);
    // row 1 has 2 real tokens: the value past the end (9) is ignored
    double a1 = -1 - 0.4;
    assertArrayEquals(new double[] {0.5 + 0.4 - 0.3 + 0.95 * a1, a1, 0}, g.advantages()[1], 1e-12);
    Gae.Result disc = Gae.compute(new double[][] {{0, 1}}, new double[][] {{0, 0}}, new int[] {2}, 0.5, 1.0);
    assertArrayEquals(new double[] {0.5, 1}, disc.advantages()[0], 1e-12);
  }

  @Test
  void varianceExplainedByHand() {
    // real tokens: returns {1, 2, 3} and {5}; the padding entries (99) are ignored
    double[][] returns = {{1, 2, 3}, {5, 99}};
    int[] len = {3, 1};
    // var(returns) = var(1, 2, 3, 5) = 35/12 (unbiased); errors {0, 0, 0, 0}: 1
    assertEquals(1.0, PpoBatch.varianceExplained(returns, returns, len), 1e-12);
    // a constant prediction: errors are the returns minus a constant: 0
    assertEquals(0.0, PpoBatch.varianceExplained(new double[][] {{7, 7, 7}, {7, -99}}, returns, len), 1e-12);
    // values {0, 2, 3} and {4}: errors {1, 0, 0, 1}, var 1/3 -> 1 - (1/3) / (35/12) = 1 - 4/35
    assertEquals(1 - 4.0 / 35, PpoBatch.varianceExplained(new double[][] {{0, 2, 3}, {4, 0}}, returns, len), 1e-12);
    // returns that do not vary: undefined
    assertTrue(Double.isNaN(PpoBatch.varianceExplained(new double[][] {{0, 0}}, new double[][] {{2, 2}}, new int[] {2})));
  }

  @Test
  void clippedPolicyLossByHand() {
    double lr15 = Math.log(1.5);
    // token 0: A=+1, ratio 1.5 -> clipped term -1.2 is larger: no gradient; token 1: A=-1, ratio 1.5
    // -> unclipped 1.5 is larger: gradient -A*ratio/n; token 2: ratio 1 -> both equal.
    PpoLosses.PolicyLoss l = PpoLosses.policy(
        new double[][] {{lr15, lr15, 0.0}}, new double[][] {{0, 0, 0}}, new double[][] {{1, -1, 2}}, new int[] {3}, 0.2);
    assertEquals((-1.2 + 1.5 - 2.0) / 3, l.loss(), 1e-12);
    assertArrayEquals(new double[] {0, 1.5 / 3, -2.0 / 3}, l.gradLogProbs()[0], 1e-12);
    assertEquals(1.0 / 3, l.clipFraction(), 1e-12);
    assertEquals((0.5 * lr15 * lr15 * 2) / 3, l.approxKl(), 1e-12);
    assertEquals((1.5 + 1.5 + 1) / 3, l.meanRatio(), 1e-12);
  }

  @Test
  void clippedValueLossByHand() {
    // token 0: v=1, vOld=0.5, R=0 -> clipped v 0.7, 0.49 < 1: the unclipped term wins (gradient v - R);
    // token 1: v=2, vOld=1, R=2.05 -> clipped v 1.2, 0.7225 > 0.0025: the clipped term wins (no gradient).
    PpoLosses.ValueLoss l = PpoLosses.value(new double[][] {{1.0, 2.0}}, new double[][] {{0.5, 1.0}}, new double[][] {{0.0, 2.05}}, new int[] {2}, 0.2);
    assertEquals(0.5 * (1.0 + 0.85 * 0.85) / 2, l.loss(), 1e-12);
    assertArrayEquals(new double[] {1.0 / 2, 0}, l.gradValues()[0], 1e-12);
    assertEquals(0.5, l.clipFraction(), 1e-12);
  }

  @Test
  void lossGradientsMatchFiniteDifferences() {
    Random r = new Random(3);
    int b = 3;
    int n = 5;
    int[] len = {5, 3, 1};
    double[][] logp = new double[b][n];
    double[][] old = new double[b][n];
    double[][] adv = new double[b][n];
    double[][] v = new double[b][n];
    double[][] vOld = new double[b][n];
    double[][] ret = new double[b][n];
    for (int i = 0; i < b; i++) {
      for (int t = 0; t < n; t++) {
        old[i][t] = -1 - r.nextDouble();
        logp[i][t] = old[i][t] + 0.4 * r.nextGaussian();
        adv[i][t] = r.nextGaussian();
        vOld[i][t] = r.nextGaussian();
        v[i][t] = vOld[i][t] + 0.4 * r.nextGaussian();
        ret[i][t] = r.nextGaussian();
      }
    }
    PpoLosses.PolicyLoss pl = PpoLosses.policy(logp, old, adv, len, 0.2);
    checkNumeric(logp, len, pl.gradLogProbs(), x -> PpoLosses.policy(x, old, adv, len, 0.2).loss());
    PpoLosses.ValueLoss vl = PpoLosses.value(v, vOld, ret, len, 0.2);
    checkNumeric(v, len, vl.gradValues(), x -> PpoLosses.value(x, vOld, ret, len, 0.2).loss());
    assertTrue(pl.clipFraction() > 0 && pl.clipFraction() < 1, "both branches exercised: " + pl.clipFraction());
    assertTrue(vl.clipFraction() > 0 && vl.clipFraction() < 1, "both branches exercised: " + vl.clipFraction());
  }

  private static void checkNumeric(double[][] x, int[] len, double[][] grad, ToDoubleFunction<double[][]> f) {
    double h = 1e-6;
    for (int i = 0; i < x.length; i++) {
      for (int t = 0; t < x[i].length; t++) {
        double orig = x[i][t];
        x[i][t] = orig + h;
        double plus = f.applyAsDouble(x);
        x[i][t] = orig - h;
        double minus = f.applyAsDouble(x);
        x[i][t] = orig;
        double numeric = (plus - minus) / (2 * h);
        assertEquals(numeric, grad[i][t], 1e-7 + 1e-5 * Math.abs(numeric), "element " + i + "," + t);
        if (t >= len[i]) {
          assertEquals(0.0, grad[i][t], 0.0, "padding gets no gradient");
        }
      }
    }
  }

  @Test
  void klEstimatorsByHand() {
    assertEquals(1.0, KlEstimator.K1.perToken(-1, -2), 1e-15);
    assertEquals(0.5, KlEstimator.K2.perToken(-1, -2), 1e-15);
    assertEquals(Math.exp(-1), KlEstimator.K3.perToken(-1, -2), 1e-15); // (e^-1 - 1) + 1
    assertEquals(1.0, KlEstimator.ABS.perToken(-2, -1), 1e-15);
    assertEquals(0.0, KlEstimator.K3.perToken(-3, -3), 0);
    assertThrows(IllegalStateException.class, () -> KlEstimator.FULL.perToken(0, 0));
    // p = (0.5, 0.5), q = (0.25, 0.75): KL = 0.5 ln 2 + 0.5 ln(2/3) = 0.5 ln(4/3)
    assertEquals(0.5 * Math.log(4.0 / 3), FullKl.kl(new double[] {0, 0}, new double[] {0, Math.log(3)}, 1.0), 1e-12);
    assertEquals(0.0, FullKl.kl(new double[] {1, 2, 3}, new double[] {1, 2, 3}, 0.7), 1e-12);
  }

  @Test
  void adaptiveControllerByHand() {
    assertEquals(0.1 * (1 + 0.2 * 16 / 10000.0), KlController.nextBeta(0.1, 12, 6, 16, 10000), 1e-15);
    assertEquals(0.1 * (1 - 0.2 * 16 / 10000.0), KlController.nextBeta(0.1, 0, 6, 16, 10000), 1e-15);
    assertEquals(0.1 * (1 + (7.0 / 6 - 1) * 100 / 1000.0), KlController.nextBeta(0.1, 7, 6, 100, 1000), 1e-15);
    KlController fixed = KlController.fixed(0.3);
    fixed.update(100, 16);
    assertEquals(0.3, fixed.beta(), 0);
    KlController ad = KlController.adaptive(0.3, 6, 1000);
    ad.update(100, 16);
    assertTrue(ad.beta() > 0.3);
  }

  @Test
  void equilibriumBetaPutsTheTiltedNormalAtTheTargetKl() {
    assertEquals(1 / Math.sqrt(12), KlController.equilibriumBeta(1, 6), 1e-15);
    for (double std : new double[] {0.5, 1, 3}) {
      for (double target : new double[] {1, 6, 20}) {
        double beta = KlController.equilibriumBeta(std, target);
        // KL(pi || ref) of pi(x) ~ ref(x) exp(x / beta), ref = N(0, std^2), by quadrature on a fine grid
        double h = std / 2000;
        double lo = -12 * std;
        double hi = 12 * std + std * std / beta;
        double z = 0;
        double ex = 0;
        for (double x = lo; x <= hi; x += h) {
          double w = Math.exp(-x * x / (2 * std * std) + x / beta - std * std / (2 * beta * beta)); // shifted by the known log-normaliser
          z += w;
          ex += w * x;
        }
        double logZ = Math.log(z * h / (std * Math.sqrt(2 * Math.PI))) + std * std / (2 * beta * beta);
        double kl = ex / z / beta - logZ; // E_pi[log pi - log ref] = E_pi[x] / beta - log Z
        assertEquals(target, kl, 1e-6 * target, "std " + std + ", target " + target);
      }
    }
    assertThrows(IllegalArgumentException.class, () -> KlController.equilibriumBeta(0, 6));
    assertThrows(IllegalArgumentException.class, () -> KlController.equilibriumBeta(1, Double.NaN));
    assertThrows(IllegalArgumentException.class, () -> KlController.equilibriumBeta(Double.POSITIVE_INFINITY, 6));
  }

  @Test
  void adaptiveControllerNeverGoesBelowItsFloor() {
    KlController c = KlController.adaptive(0.3, 6, 128, 0.3);
    assertEquals(0.3, c.minBeta(), 0);
    assertTrue(c.update(0, 32));
    assertEquals(0.3, c.beta(), 0, "under target at the floor: beta stays (Ziegler alone would give 0.285)");
    assertTrue(c.update(12, 32));
    assertEquals(0.3 * 1.05, c.beta(), 1e-15, "over target: beta rises as in Ziegler's controller");
    c.update(0, 32);
    assertEquals(0.3, c.beta(), 0, "and falls back, but not below the floor");
    assertEquals(0.285, KlController.nextBeta(0.3, 0, 6, 32, 128), 1e-15);
    assertEquals(0, KlController.adaptive(0.3, 6, 128).minBeta(), 0);
    assertEquals(0, KlController.fixed(0.3).minBeta(), 0);
    assertThrows(IllegalArgumentException.class, () -> KlController.adaptive(0.1, 6, 128, 0.2));
    assertThrows(IllegalArgumentException.class, () -> KlController.adaptive(0.1, 6, 128, -0.01));
    assertThrows(IllegalArgumentException.class, () -> KlController.adaptive(0.1, 6, 128, Double.NaN));
  }

  /**
   * The overshoot the floor prevents, on a model of a short PPO run: the KL moves towards the
   * KL-regularised optimum for the current beta ({@code 1 / (2 beta^2)} for normal unit-variance
   * scores) by at most 0.2 nats a step, as a policy limited by its learning rate does. Started at the
   * equilibrium beta of a 6-nat target, Ziegler's controller (horizon 4 batches) lowers beta for the
   * 30 steps the KL needs to rise, so the KL then runs far past the target before beta catches up;
   * with the equilibrium beta as its floor the KL settles at the target.
   */
  @Test
  void aFloorAtTheEquilibriumBetaStopsTheWindupOvershoot() {
    double beta0 = KlController.equilibriumBeta(1, 6);
    double withoutFloor = maxKlOfRateLimitedRun(KlController.adaptive(beta0, 6, 128));
    double withFloor = maxKlOfRateLimitedRun(KlController.adaptive(beta0, 6, 128, beta0));
    assertTrue(withoutFloor > 10, "Ziegler's controller winds down during the rise and overshoots: max KL " + withoutFloor);
    assertTrue(withFloor <= 6.0 + 1e-9, "with the floor the KL stays at the target: max KL " + withFloor);
  }

  private static double maxKlOfRateLimitedRun(KlController c) {
    double kl = 0;
    double max = 0;
    for (int step = 0; step < 100; step++) {
      double optimum = 1 / (2 * c.beta() * c.beta());
      kl += Math.max(-0.2, Math.min(0.2, optimum - kl));
      max = Math.max(max, kl);
      c.update(kl, 32);
    }
    return max;
  }

  @Test
  void whiteningByHand() {
    double[][] w = Whitening.whiten(new double[][] {{1, 2, 99}, {3, 0, 0}}, new int[] {2, 1}, true);
    // mean 2, unbiased var 1
    double s = 1 / Math.sqrt(1 + 1e-8);
    assertArrayEquals(new double[] {-s, 0, 0}, w[0], 1e-12);
    assertArrayEquals(new double[] {s, 0, 0}, w[1], 1e-12);
    double[][] kept = Whitening.whiten(new double[][] {{1, 2}, {3, 0}}, new int[] {2, 1}, false);
    assertEquals(-s + 2, kept[0][0], 1e-12);
  }

  @Test
  void scoreShapingByHand() {
    boolean[] eos = {true, false, true};
    double[] raw = {1.0, 2.0, -3.0};
    assertArrayEquals(raw, new ScoreShaping(PpoConfig.builder().build()).apply(raw, eos), 0);
    assertArrayEquals(new double[] {1.0, 1.5, -3.0}, new ScoreShaping(PpoConfig.builder().missingEosPenalty(0.5).build()).apply(raw, eos), 0);
    assertArrayEquals(new double[] {1.0, -1.0, -3.0}, new ScoreShaping(PpoConfig.builder().nonEosScore(-1.0).build()).apply(raw, eos), 0);
    assertArrayEquals(new double[] {1.0, 2.0, -2.5}, new ScoreShaping(PpoConfig.builder().scoreClip(2.5).build()).apply(raw, eos), 0);
    // scaling: divided by the running (unbiased) std of the batch: std(1, 2, -3) = sqrt(7)
    double std = Math.sqrt(7);
    double[] scaled = new ScoreShaping(PpoConfig.builder().scoreScaling(true, false).build()).apply(raw, eos);
    assertArrayEquals(new double[] {1 / std, 2 / std, -3 / std}, scaled, 1e-6);
    double[] normed = new ScoreShaping(PpoConfig.builder().scoreScaling(true, true).build()).apply(raw, eos);
    assertArrayEquals(new double[] {1 / std, 2 / std, -3 / std}, normed, 1e-6); // mean is 0
    double[] shifted = new ScoreShaping(PpoConfig.builder().scoreScaling(true, true).build()).apply(new double[] {11, 12, 7}, eos);
    assertArrayEquals(new double[] {1 / std, 2 / std, -3 / std}, shifted, 1e-6);
  }

  @Test
  void runningMomentsMatchTheWholeData() {
    RunningMoments m = new RunningMoments();
    m.update(new double[] {1, 2, 3});
    m.update(new double[] {4, 5});
    assertEquals(3.0, m.mean(), 1e-9);
    assertEquals(Math.sqrt(2.5), m.std(), 1e-6);
  }
}
