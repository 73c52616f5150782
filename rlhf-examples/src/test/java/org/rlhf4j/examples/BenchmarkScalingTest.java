package org.rlhf4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code Benchmark}'s batch-1 thread-scaling figures from the timed rounds. */
class BenchmarkScalingTest {
  @Test
  void theSpeedUpIsTheMedianOfTheRoundsOwnRatios() {
    // Three rounds; the machine slowed down for the last two, both copies alike. The medians of the
    // columns are 4.0 and 2.4, whose ratio (1.67) mixes rounds; the rounds' own ratios are 2.0,
    // 1.6 and 1.75, median 1.75.
    List<double[]> rounds = List.of(new double[] {3.0, 1.5}, new double[] {4.0, 2.5}, new double[] {4.2, 2.4});
    Benchmark.ScalingFigures f = Benchmark.scalingFigures(rounds);
    assertEquals(4.0, f.oneMs());
    assertEquals(2.4, f.manyMs());
    assertEquals(1.75, f.speedUp(), 1e-12);
  }

  @Test
  void aStretchShorterThanHalfTheRoundsDoesNotMoveTheFigure() {
    // 7 rounds at 1.8x, 3 in a stretch where the second core gained nothing (1.0x)
    List<double[]> rounds = new java.util.ArrayList<>();
    for (int i = 0; i < 7; i++) {
      rounds.add(new double[] {3.6, 2.0});
    }
    for (int i = 0; i < 3; i++) {
      rounds.add(new double[] {3.6, 3.6});
    }
    assertEquals(1.8, Benchmark.scalingFigures(rounds).speedUp(), 1e-12);
  }

  @Test
  void noRoundsIsAnError() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Benchmark.scalingFigures(List.of()));
    assertEquals("no rounds", e.getMessage());
  }
}
