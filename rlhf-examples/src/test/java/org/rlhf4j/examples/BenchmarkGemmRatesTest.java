package org.rlhf4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The reference of {@code Benchmark}'s "fraction of the best measured GEMM rate": the highest best timing of any route. */
class BenchmarkGemmRatesTest {
  @Test
  void theBestRateIsTheHighestBestTimingOfAnyRoute() {
    assertEquals(384.0, new Benchmark.GemmRates(340, 330, 365, 349, 384, 380).best());
    assertEquals(350.0, new Benchmark.GemmRates(350, 330, 340, 339, 345, 344).best(), "medians do not count");
    assertEquals(300.0, new Benchmark.GemmRates(300, 290, Double.NaN, Double.NaN, Double.NaN, Double.NaN).best(), "no BLAS threads: the per-thread route");
  }
}
