package org.rlhf4j.core.model;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Incremental decoding with a key/value cache, from {@link CausalLm#newDecodeSession}: {@link
 * #prefill} runs the model once over left-padded prompts and caches what later positions attend to;
 * each {@link #step} then feeds one new token per sequence. The logits equal those of a full forward
 * pass over the same tokens. Not thread-safe; close it to free the cache (use after close throws
 * {@link IllegalStateException}, as does use after the model is closed). A session reflects the
 * model's weights as they were at {@link #prefill}: its cache was computed with them, and a GPT-2
 * session of one sequence on several threads also keeps contiguous copies of some weight blocks; so
 * do not train the model while a session is open (open a new one after an optimiser step).
 */
public interface DecodeSession extends AutoCloseable {
  /** The number of sequences. */
  int batchSize();

  /** The most positions (padded prompt plus new tokens) the cache holds. */
  int capacity();

  /** The number of positions filled (padded prompt length plus tokens stepped). */
  int length();

  /**
   * Runs the model over left-padded {@code prompts} ({@link #batchSize()} rows, at most {@link
   * #capacity()} long) and caches them; once per session.
   *
   * @return the logits of the next token after each prompt, {@code [B, V]} (the session's buffer,
   *     overwritten by the next {@link #step})
   */
  INDArray prefill(TokenBatch prompts);

  /**
   * Feeds one token per sequence (at the next position of each) and returns the logits of the token
   * after it, {@code [B, V]} (the session's buffer, overwritten by the next step).
   */
  INDArray step(int[] tokens);

  /** Whether {@link #close()} has been called. */
  boolean isClosed();

  /** Frees the cache (idempotent). */
  @Override
  void close();
}
