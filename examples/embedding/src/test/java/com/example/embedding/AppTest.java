package com.example.embedding;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.rlhf4j.ppo.PpoStats;
import org.slf4j.LoggerFactory;

/** Runs the application end to end, and checks what its build resolved. */
class AppTest {
  private static double mean(List<PpoStats> s, int from, int to) {
    return s.subList(from, to).stream().mapToDouble(PpoStats::meanScore).average().orElseThrow();
  }

  @Test
  void sftThenRewardModelThenPpoRaisesTheScore() {
    List<PpoStats> stats = App.run(20, 42);
    assertEquals(20, stats.size());
    double before = mean(stats, 0, 3);
    double after = mean(stats, 17, 20);
    System.out.printf("embedding example: mean score %.2f -> %.2f%n", before, after);
    assertTrue(after > before + 0.5, "PPO should raise the score: " + before + " -> " + after);
    PpoStats last = stats.get(19);
    assertEquals(16, last.completions().size(), "each step carries its texts");
    assertTrue(last.completions().stream().allMatch(c -> c.prompt().startsWith("Hi ")), "the application's prompts");
  }

  @Test
  void resolvesSlf4j2WithTheApplicationsBindingAndQuietNd4j() throws Exception {
    // SLF4J 2's provider interface: absent if ND4J's slf4j-api 1.7 had won the resolution
    Class.forName("org.slf4j.spi.SLF4JServiceProvider");
    assertEquals("org.slf4j.simple.SimpleLoggerFactory", LoggerFactory.getILoggerFactory().getClass().getName());
    assertFalse(LoggerFactory.getLogger("org.nd4j.linalg.factory.Nd4jBackend").isInfoEnabled(), "ND4J's INFO lines are off");
    assertTrue(LoggerFactory.getLogger("org.rlhf4j.core.train.LoggingListener").isInfoEnabled(), "the library's own INFO lines are on");
    // the backend came with rlhf4j-cpu
    assertEquals("org.nd4j.linalg.cpu.nativecpu.CpuBackend", org.nd4j.linalg.factory.Nd4j.getBackend().getClass().getName());
  }
}
