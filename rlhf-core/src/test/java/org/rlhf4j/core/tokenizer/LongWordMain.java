package org.rlhf4j.core.tokenizer;

/**
 * Encodes a 10 MB single "word" with the tiny BPE and prints {@code OK <ids>}; run by {@link
 * LongWordTest} in a JVM with a small heap, where unchunked BPE of the word runs out of memory.
 */
public final class LongWordMain {
  private LongWordMain() {}

  public static void main(String[] args) {
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.of(TinyBpe.vocab(), TinyBpe.merges());
    String word = "hello".repeat(2_000_000);
    int[] ids = tok.encode(word);
    if (!tok.decode(ids).equals(word)) {
      throw new AssertionError("round trip failed");
    }
    System.out.println("OK " + ids.length);
  }
}
