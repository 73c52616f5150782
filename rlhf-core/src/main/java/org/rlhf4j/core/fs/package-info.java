/**
 * Crash-safe file writing ({@link org.rlhf4j.core.fs.AtomicFiles}): a leaf package that every other
 * package may use (the tokenizer's and the checkpoints' writers alike).
 */
package org.rlhf4j.core.fs;
