package org.rlhf4j.core.fs;

import java.io.IOException;

/**
 * A consumer that may throw {@link IOException}, e.g. the code that fills a file in {@link
 * AtomicFiles}.
 *
 * @param <T> the type of the value consumed
 */
@FunctionalInterface
public interface IoConsumer<T> {
  /**
   * Consumes {@code value}.
   *
   * @param value the value (an output stream, a channel, a directory)
   * @throws IOException if writing fails
   */
  void accept(T value) throws IOException;
}
