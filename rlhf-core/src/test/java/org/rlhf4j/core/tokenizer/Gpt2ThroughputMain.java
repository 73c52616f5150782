package org.rlhf4j.core.tokenizer;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import org.rlhf4j.core.data.SharedData;

/**
 * Prints the encoding throughput of {@link Gpt2BpeTokenizer} on {@code corpus/tinyshakespeare.txt}
 * (a program, not a test: timings depend on the machine and its load). Each round encodes the whole
 * corpus with a new tokenizer (empty piece cache), then again with the same one (warm cache); the
 * first rounds warm up the JIT. Prints the median and best MB/s (UTF-8 bytes of input per second of
 * the encoding thread's CPU time, which a busy machine disturbs less than wall time) of the rounds
 * after the warm-up. Run from {@code rlhf-core} with {@code java -cp
 * target/classes:target/test-classes:<dependencies> org.rlhf4j.core.tokenizer.Gpt2ThroughputMain
 * [rounds]}.
 */
public final class Gpt2ThroughputMain {
  private static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();

  private Gpt2ThroughputMain() {}

  /** Runs the measurement; the optional argument is the number of measured rounds (default 10). */
  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    int warmup = 5;
    String text = Files.readString(SharedData.require("corpus/tinyshakespeare.txt"));
    double mb = text.getBytes(StandardCharsets.UTF_8).length / 1e6;
    long t0 = System.nanoTime();
    Gpt2BpeTokenizer loaded =
        Gpt2BpeTokenizer.fromDirectory(SharedData.require("gpt2/encoder.json").getParent());
    System.out.printf("load (cold JVM): %.0f ms%n", (System.nanoTime() - t0) / 1e6);
    double[] cold = new double[rounds];
    double[] warm = new double[rounds];
    int tokens = 0;
    for (int round = -warmup; round < rounds; round++) {
      Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.of(loaded.vocabulary(), loaded.merges());
      long t = CPU.getCurrentThreadCpuTime();
      tokens = tok.encode(text).length;
      long t1 = CPU.getCurrentThreadCpuTime();
      tokens = Math.min(tokens, tok.encode(text).length);
      long t2 = CPU.getCurrentThreadCpuTime();
      if (round >= 0) {
        cold[round] = mb / ((t1 - t) / 1e9);
        warm[round] = mb / ((t2 - t1) / 1e9);
      }
    }
    Arrays.sort(cold);
    Arrays.sort(warm);
    System.out.printf(
        "%.2f MB -> %d tokens; MB/s over %d rounds: cold cache median %.1f best %.1f,"
            + " warm cache median %.1f best %.1f%n",
        mb, tokens, rounds, cold[rounds / 2], cold[rounds - 1], warm[rounds / 2], warm[rounds - 1]);
  }
}
