package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Hand-computed advantages, finite-difference checks of the GRPO loss, config validation. */
class GrpoMathTest {

  @Test
  void groupNormalizedAdvantagesMatchHandComputedValues() {
    // group 1: mean 3, deviations -2 -1 0 3, sample std sqrt(14/3) = 2.1602469; group 2: constant -> 0
    double[] a = Advantages.groupNormalized(new double[] {1, 2, 3, 6, 5, 5, 5, 5}, 4, 0.0);
    double s = Math.sqrt(14.0 / 3);
    assertArrayEquals(new double[] {-2 / s, -1 / s, 0, 3 / s, 0, 0, 0, 0}, a, 1e-12);
    assertEquals(-0.9258201, a[0], 1e-7);
    // eps enters the denominator
    double[] e = Advantages.groupNormalized(new double[] {0, 2}, 2, 0.5);
    assertArrayEquals(new double[] {-1 / (Math.sqrt(2) + 0.5), 1 / (Math.sqrt(2) + 0.5)}, e, 1e-12);
  }

  @Test
  void leaveOneOutAdvantagesMatchHandComputedValues() {
    // r_i - mean of the other three: 1 - 11/3, 2 - 10/3, 3 - 9/3, 6 - 6/3
    double[] a = Advantages.leaveOneOut(new double[] {1, 2, 3, 6, 4, 0, 4, 0}, 4);
    assertArrayEquals(new double[] {-8.0 / 3, -4.0 / 3, 0, 4, 8.0 / 3, -8.0 / 3, 8.0 / 3, -8.0 / 3}, a, 1e-12);
    // with G samples, leave-one-out is the mean-centred score times G/(G-1)
    assertArrayEquals(new double[] {-1, 1}, Advantages.leaveOneOut(new double[] {3, 4}, 2), 1e-12);
  }

  @Test
  void advantagesRejectBadInputNamingIt() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Advantages.leaveOneOut(new double[] {1, 2, 3}, 2));
    assertTrue(e.getMessage().contains("3 scores do not split into groups of 2"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Advantages.groupNormalized(new double[] {1, Double.NaN}, 2, 1e-4));
    assertTrue(e.getMessage().contains("score 1 is NaN"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Advantages.leaveOneOut(new double[] {1, 2}, 1));
    assertTrue(e.getMessage().contains("groupSize >= 2"), e.getMessage());
  }

  /** Central differences in double against the analytic dL/d logp, for the surrogate alone and with the k3 term. */
  @Test
  void grpoLossGradientMatchesFiniteDifferences() {
    Random r = new Random(3);
    int b = 3;
    int n = 5;
    int[] length = {5, 3, 4};
    double[][] logp = new double[b][n];
    double[][] old = new double[b][n];
    double[][] ref = new double[b][n];
    double[] seqAdv = {1.3, -0.7, 0.4};
    for (int i = 0; i < b; i++) {
      for (int t = 0; t < n; t++) {
        logp[i][t] = -0.5 - 2 * r.nextDouble();
        old[i][t] = logp[i][t] + (r.nextDouble() - 0.5); // ratios on both sides of the clip range
        ref[i][t] = logp[i][t] + 1.5 * (r.nextDouble() - 0.5);
      }
    }
    double[][] adv = GrpoLosses.broadcast(seqAdv, length, n);
    for (double beta : new double[] {0.0, 0.04, 0.7}) {
      GrpoLosses.Loss l = GrpoLosses.policy(logp, old, ref, adv, length, 0.2, beta);
      double h = 1e-6;
      double maxRel = 0;
      int clippedSeen = 0;
      for (int i = 0; i < b; i++) {
        for (int t = 0; t < n; t++) {
          double[][] up = copy(logp);
          double[][] dn = copy(logp);
          up[i][t] += h;
          dn[i][t] -= h;
          double num = (GrpoLosses.policy(up, old, ref, adv, length, 0.2, beta).loss()
              - GrpoLosses.policy(dn, old, ref, adv, length, 0.2, beta).loss()) / (2 * h);
          double ana = l.gradLogProbs()[i][t];
          if (t >= length[i]) {
            assertEquals(0, ana, 0, "padding gets no gradient");
          }
          clippedSeen += t < length[i] && Math.abs(ana) < 1e-15 && beta == 0 ? 1 : 0;
          maxRel = Math.max(maxRel, Math.abs(num - ana) / Math.max(1e-8, Math.abs(num) + Math.abs(ana)));
        }
      }
      assertTrue(maxRel < 1e-5, "beta " + beta + ": max relative error " + maxRel);
      if (beta == 0) {
        assertTrue(clippedSeen > 0 && l.surrogate().clipFraction() > 0, "the check must cover clipped tokens");
      }
    }
  }

  @Test
  void klTermIsK3AndVanishesAtTheReference() {
    double[][] logp = {{-1.0, -2.0}};
    double[][] ref = {{-1.5, -2.0}};
    int[] len = {2};
    GrpoLosses.Loss l = GrpoLosses.policy(logp, logp, ref, new double[][] {{0, 0}}, len, 0.2, 1.0);
    double k3 = Math.exp(-0.5) + 0.5 - 1; // exp(q - p) - (q - p) - 1 with q - p = -0.5; 0 for the second token
    assertEquals(k3 / 2, l.kl(), 1e-15);
    assertEquals(k3 / 2, l.loss(), 1e-15);
    assertEquals(0, l.gradLogProbs()[0][1], 0);
  }

  @Test
  void configValidationNamesTheField() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> GrpoConfig.builder().numGenerations(1).build())
        .getMessage().contains("numGenerations must be >= 2"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> GrpoConfig.builder().batchSize(10).numGenerations(4).build())
        .getMessage().contains("batchSize 10 must be a multiple of numGenerations 4"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> GrpoConfig.builder().beta(-1).build())
        .getMessage().contains("beta must be >= 0, got -1.0"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> GrpoConfig.builder().rewardKlEstimator(KlEstimator.FULL).build())
        .getMessage().contains("rewardKlEstimator"));
    GrpoConfig rloo = GrpoConfig.rlooBuilder().build();
    assertEquals(GrpoConfig.Advantage.LEAVE_ONE_OUT, rloo.advantage());
    assertTrue(rloo.klInReward());
    assertEquals(4, rloo.promptsPerStep());
    assertEquals(0.04, GrpoConfig.builder().build().beta());
  }

  private static double[][] copy(double[][] a) {
    double[][] out = new double[a.length][];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i].clone();
    }
    return out;
  }
}
