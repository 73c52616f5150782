package org.rlhf4j.spark.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.ppo.GrpoStats;
import org.rlhf4j.spark.TestSpark;

/** The spark-submit example on the tiny preset in local mode. */
class SparkGrpoExampleTest {
  @Test
  void runsGrpoOnSparkThenBestOfN(@TempDir Path out) throws Exception {
    SparkGrpoExample.Options o = SparkGrpoExample.Options.parse("--steps", "2", "--algo", "rloo", "--partitions", "2",
        "--bon-prompts", "8", "--output", out.resolve("best").toString());
    SparkGrpoExample.Result r = SparkGrpoExample.run(TestSpark.session(), o);
    assertEquals(2, r.steps().size());
    assertEquals(2, r.timings().size());
    for (GrpoStats s : r.steps()) {
      for (String k : s.values().keySet()) {
        assertTrue(Double.isFinite(s.get(k)), k);
      }
    }
    assertEquals(64.0, r.steps().get(1).get("episode")); // 8 prompts x 4 completions x 2 steps
    assertEquals(8, r.bestOfNRows());
    assertTrue(Double.isFinite(r.meanBestScore()));
    assertTrue(r.timings().get(0).broadcastBytes() > 0);
    try (Stream<Path> files = Files.list(out.resolve("best"))) {
      long lines = 0;
      for (Path f : files.filter(f -> f.getFileName().toString().endsWith(".json")).toList()) {
        lines += Files.readAllLines(f).size();
      }
      assertEquals(8, lines);
    }
  }

  @Test
  void badArgumentsAreNamed() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SparkGrpoExample.Options.parse("--stpes", "2"))
        .getMessage().contains("unknown argument --stpes"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SparkGrpoExample.Options.parse("--algo", "ppo"))
        .getMessage().contains("--algo must be grpo or rloo, got ppo"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SparkGrpoExample.Options.parse("--sft", "x"))
        .getMessage().contains("give both --sft and --reward"));
  }
}
