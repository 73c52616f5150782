package org.rlhf4j.core.tokenizer;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.rlhf4j.core.data.SharedData;

/**
 * Prints the encoding throughput of {@link HfTokenizer} with the two fixture tokenizers (byte-level
 * with the Llama-3 split regex; SentencePiece-style with byte fallback) on the movie-review corpus
 * ({@code sentiment/movie-review-snippets.tsv}, one call per line) and on {@code
 * corpus/tinyshakespeare.txt} (one call per line). A program, not a test. Each round loads a new
 * tokenizer (empty piece cache) and encodes the corpus twice (cold, then warm cache); MB of UTF-8
 * input per second of the thread's CPU time, median and best of the rounds after a JIT warm-up.
 * Run from {@code rlhf-core} with {@code java -cp target/classes:target/test-classes:<dependencies>
 * org.rlhf4j.core.tokenizer.HfThroughputMain [rounds]}.
 */
public final class HfThroughputMain {
  private static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();

  private HfThroughputMain() {}

  /** Runs the measurement; the optional argument is the number of measured rounds (default 10). */
  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    for (String corpus : new String[] {"sentiment/movie-review-snippets.tsv", "corpus/tinyshakespeare.txt"}) {
      List<String> lines = Files.readAllLines(SharedData.require(corpus), StandardCharsets.UTF_8);
      double mb = 0;
      for (String l : lines) {
        mb += l.getBytes(StandardCharsets.UTF_8).length / 1e6;
      }
      for (String fixture : new String[] {"tokenizer-bytelevel-bpe", "tokenizer-sentencepiece-bpe"}) {
        Path file = HfFixtures.find(fixture).orElseThrow().resolve("tokenizer.json");
        double[] cold = new double[rounds];
        double[] warm = new double[rounds];
        long tokens = 0;
        for (int round = -5; round < rounds; round++) {
          HfTokenizer tok = HfTokenizer.fromFile(file);
          long t0 = CPU.getCurrentThreadCpuTime();
          tokens = 0;
          for (String l : lines) {
            tokens += tok.encode(l).length;
          }
          long t1 = CPU.getCurrentThreadCpuTime();
          for (String l : lines) {
            tok.encode(l);
          }
          long t2 = CPU.getCurrentThreadCpuTime();
          if (round >= 0) {
            cold[round] = mb / ((t1 - t0) / 1e9);
            warm[round] = mb / ((t2 - t1) / 1e9);
          }
        }
        Arrays.sort(cold);
        Arrays.sort(warm);
        System.out.printf(
            "%s, %s: %.2f MB, %d lines -> %d tokens; MB/s: cold cache median %.1f best %.1f,"
                + " warm cache median %.1f best %.1f%n",
            corpus, fixture, mb, lines.size(), tokens, cold[rounds / 2], cold[rounds - 1],
            warm[rounds / 2], warm[rounds - 1]);
      }
    }
  }
}
