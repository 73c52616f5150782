package org.rlhf4j.core.tensor;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Carves many tensors out of one preallocated native buffer, so that activations are allocated once
 * and reused across steps (fresh native memory is expensive, and ND4J frees it only after a GC).
 *
 * <p>Use with a layout function that calls {@link #take} for every tensor it needs: {@link
 * #layout(Layout)} runs it once to measure, grows the buffer if needed, and runs it again to hand
 * out views. Views stay valid until the next {@code layout} call.
 */
public final class Arena implements AutoCloseable {
  /** A function that takes every tensor it needs from the arena. */
  @FunctionalInterface
  public interface Layout {
    /** Calls {@link Arena#take} for each tensor and keeps the results. */
    void carve(Arena arena);
  }

  private final DataType type;
  private INDArray buffer; // what is freed
  private Tensor whole; // its aligned part; take() hands out views of it
  private long cursor;
  private boolean measuring;

  /** An empty arena of {@code type} elements. */
  public Arena(DataType type) {
    this.type = type;
  }

  /** Runs {@code layout}, growing the buffer if it needs more room than the arena has. */
  public void layout(Layout layout) {
    measuring = true;
    cursor = 0;
    layout.carve(this);
    long needed = cursor;
    if (buffer == null || whole.length() < needed) {
      if (buffer != null) {
        buffer.close();
      }
      long length = Math.max(1, needed);
      buffer = Nd4j.create(type, Tensor.alignedLength(type, length));
      whole = Tensor.of(Tensor.alignedView(buffer, length)); // every tensor starts on a 64-byte boundary
    }
    measuring = false;
    cursor = 0;
    layout.carve(this);
  }

  /** The next {@code shape}d tensor (uninitialised contents); {@code null} while measuring. */
  public Tensor take(long... shape) {
    long size = 1;
    for (long s : shape) {
      size *= s;
    }
    long start = cursor;
    // Keep every tensor 64-byte aligned (the buffer's view starts on a boundary).
    cursor += (size + 15) & ~15L;
    if (measuring) {
      return null;
    }
    return whole.rows(start, start + size).reshape(shape);
  }

  /** Frees the native buffer. */
  @Override
  public void close() {
    if (buffer != null) {
      buffer.close();
      buffer = null;
      whole = null;
    }
  }
}
