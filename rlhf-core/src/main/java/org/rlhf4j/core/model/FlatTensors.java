package org.rlhf4j.core.model;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableMap;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.rlhf4j.core.tensor.Tensor;

/**
 * One flat buffer holding every tensor of a {@link ParameterLayout}, with a named view of each. Used
 * for parameter values, their gradients and the optimiser's moments, so that whole-model operations
 * (clipping, AdamW, zeroing) are a few large loops.
 */
public final class FlatTensors implements AutoCloseable {
  private final ParameterLayout layout;
  private final Tensor flat;
  private final ImmutableMap<String, Tensor> views;
  private volatile boolean closed;

  private final INDArray buffer; // what close() frees; flat is its 64-byte-aligned part

  private FlatTensors(ParameterLayout layout, INDArray buffer) {
    this.layout = layout;
    this.buffer = buffer;
    INDArray flat = Tensor.alignedView(buffer, layout.totalSize());
    this.flat = Tensor.of(flat);
    ImmutableMap.Builder<String, Tensor> m = ImmutableMap.builder();
    for (ParameterLayout.Entry e : layout.entries()) {
      INDArray view = flat.get(NDArrayIndex.interval(e.offset(), e.offset() + e.size())).reshape('c', e.shape());
      m.put(e.name(), Tensor.of(view));
    }
    this.views = m.buildOrThrow();
  }

  /** A zero-filled buffer for {@code layout}. */
  public static FlatTensors zeros(ParameterLayout layout, DataType type) {
    return new FlatTensors(layout, Nd4j.create(type, Tensor.alignedLength(type, layout.totalSize())));
  }

  /** The layout. */
  public ParameterLayout layout() {
    return layout;
  }

  /** The element type. */
  public DataType dataType() {
    return flat.dataType();
  }

  /** The whole buffer, {@code [totalSize]}. */
  public Tensor flat() {
    checkOpen();
    return flat;
  }

  /** The view of the tensor called {@code name}. */
  public Tensor get(String name) {
    checkOpen();
    Tensor t = views.get(name);
    checkArgument(t != null, "no tensor named %s", name);
    return t;
  }

  /** The first {@code layout().decaySize()} elements: the weight-decayed tensors. */
  public int decayCount() {
    return Math.toIntExact(layout.decaySize());
  }

  /** Sets every element to zero. */
  public void zero() {
    checkOpen();
    flat.zero();
  }

  /** Copies every element of {@code other} (same layout and type) into this buffer. */
  public void copyFrom(FlatTensors other) {
    checkOpen();
    other.checkOpen();
    checkArgument(other.layout.totalSize() == layout.totalSize(), "layouts differ");
    flat.array().assign(other.flat.array());
  }

  /** Whether the buffer has been freed. */
  public boolean isClosed() {
    return closed;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("these tensors have been closed (their native memory was freed)");
    }
  }

  /** Frees the native buffer (idempotent); using the tensors afterwards is an {@link IllegalStateException}. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    buffer.close();
  }
}
