package org.rlhf4j.core.tokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.rlhf4j.core.data.SharedData;

/**
 * Prints the encoding throughput of {@link Gpt2BpeTokenizer} on {@code corpus/tinyshakespeare.txt}
 * (not a test: timings depend on the machine). Each round encodes the whole corpus, line by line as
 * trainers do, with a fresh tokenizer (cold cache) and again with the same one (warm cache). Run
 * with {@code java -cp ... org.rlhf4j.core.tokenizer.Gpt2ThroughputMain [rounds]}.
 */
public final class Gpt2ThroughputMain {
  private Gpt2ThroughputMain() {}

  /** Runs the measurement; the optional argument is the number of rounds (default 5). */
  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
    Path gpt2 = SharedData.require("gpt2/encoder.json").getParent();
    String text = Files.readString(SharedData.require("corpus/tinyshakespeare.txt"));
    double mb = text.getBytes(StandardCharsets.UTF_8).length / 1e6;
    long t0 = System.nanoTime();
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.fromDirectory(gpt2);
    System.out.printf("load: %.0f ms%n", (System.nanoTime() - t0) / 1e6);
    for (int round = 1; round <= rounds; round++) {
      Gpt2BpeTokenizer fresh = Gpt2BpeTokenizer.fromDirectory(gpt2);
      double cold = time(fresh, text);
      double warm = time(fresh, text);
      int tokens = fresh.encode(text).length;
      System.out.printf(
          "round %d: %.2f MB, %d tokens; cold cache %.1f MB/s, warm cache %.1f MB/s%n",
          round, mb, tokens, mb / cold, mb / warm);
    }
  }

  private static double time(Gpt2BpeTokenizer tok, String text) {
    long t = System.nanoTime();
    long sink = 0;
    sink += tok.encode(text).length;
    double s = (System.nanoTime() - t) / 1e9;
    if (sink < 0) {
      throw new AssertionError();
    }
    return s;
  }
}
