package org.rlhf4j.core.tokenizer;

/**
 * Turns text into token ids and back.
 *
 * <p>Implementations are immutable and thread-safe. {@link #encode(String)} never adds special
 * tokens and never produces a special token from ordinary text: callers add BOS/EOS explicitly
 * (the trainers do this). {@link #decode(int[])} is the inverse of {@code encode} for every string
 * (byte-level tokenizers round-trip any UTF-8 text exactly).
 */
public interface Tokenizer {

  /** The ids of {@code text}, without any special tokens. */
  int[] encode(String text);

  /**
   * The ids of a prompt: {@link #encode(String)}, preceded by {@link #bosId()} when {@code addBos}
   * (how the trainers and generators of this library start every sequence).
   */
  default int[] encodePrompt(String text, boolean addBos) {
    int[] ids = encode(text);
    if (!addBos) {
      return ids;
    }
    int[] out = new int[ids.length + 1];
    out[0] = bosId();
    System.arraycopy(ids, 0, out, 1, ids.length);
    return out;
  }

  /** The text of {@code ids}; special tokens are dropped. */
  default String decode(int[] ids) {
    return decode(ids, true);
  }

  /**
   * The text of {@code ids}.
   *
   * @param skipSpecialTokens drop BOS/EOS/PAD and other special tokens instead of writing their
   *     textual form (e.g. {@code <|endoftext|>})
   * @throws IllegalArgumentException if an id is outside {@code [0, vocabSize())}
   */
  String decode(int[] ids, boolean skipSpecialTokens);

  /** The number of distinct ids, specials included; every id is in {@code [0, vocabSize())}. */
  int vocabSize();

  /** The id that starts a sequence. May equal {@link #eosId()} (GPT-2 uses one id for both). */
  int bosId();

  /** The id that ends a sequence; generation stops when it is sampled. */
  int eosId();

  /** The id used to pad batches; padded positions are always masked out, so any id works. */
  int padId();

  /** Whether {@code id} is a special token (BOS, EOS, PAD or another control token). */
  boolean isSpecial(int id);

  /** A short description for logs and checkpoint metadata, e.g. {@code byte-level(259)}. */
  String describe();
}
