package org.rlhf4j.reward.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class WinRateTest {

  @Test
  void wilsonIntervalMatchesHandComputedValues() {
    // 60 wins of 100: p = 0.6, z = 1.96: centre (0.6 + 0.019208) / 1.038415 = 0.596307,
    // half-width 1.96 * sqrt(0.0024 + 0.00009604) / 1.038415 = 0.094316
    WinRate r = WinRate.of("a", "b", 60, 40, 0);
    assertEquals(0.6, r.rate(), 1e-12);
    assertEquals(0.5020, r.low(), 1e-4);
    assertEquals(0.6906, r.high(), 1e-4);
    assertEquals(100, r.n());
  }

  @Test
  void tiesCountHalfAndExtremesStayInsideUnitInterval() {
    WinRate r = WinRate.of("a", "b", 3, 1, 2);
    assertEquals(4.0 / 6.0, r.rate(), 1e-12);
    WinRate all = WinRate.of("a", "b", 10, 0, 0);
    assertEquals(1.0, all.rate(), 0.0);
    assertEquals(1.0, all.high(), 1e-12);
    assertEquals(0.7225, all.low(), 1e-4); // 10 / (10 + 3.8415)
  }

  @Test
  void fromScoresCountsPairs() {
    WinRate r = WinRate.fromScores("ppo", "sft", new double[] {1, 2, 3, 0}, new double[] {0, 2, 4, -1});
    assertEquals(2, r.wins());
    assertEquals(1, r.losses());
    assertEquals(1, r.ties());
    assertThrows(IllegalArgumentException.class,
        () -> WinRate.fromScores("a", "b", new double[] {Double.NaN}, new double[] {0}));
    assertThrows(IllegalArgumentException.class, () -> WinRate.of("a", "b", -1, 0, 0));
  }
}
