package org.rlhf4j.core.io;

/**
 * The atomic file writes, under their former name.
 *
 * @deprecated moved to {@link org.rlhf4j.core.fs.AtomicFiles} (a leaf package, so that the tokenizer
 *     package can save atomically without depending on {@code io}, which depends on it); this alias
 *     inherits every static method and will be removed.
 */
@Deprecated
public final class AtomicFiles extends org.rlhf4j.core.fs.AtomicFiles {
  private AtomicFiles() {}
}
