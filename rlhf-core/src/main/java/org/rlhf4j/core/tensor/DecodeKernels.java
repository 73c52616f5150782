package org.rlhf4j.core.tensor;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * Kernels of a KV-cached decode step of one sequence split across threads by heads and by column
 * blocks (see {@code GptDecodeSession}): each thread appends the keys and values of its own heads,
 * and each thread's share of a product whose inner dimension is split is a partial sum that one
 * thread then adds up in a fixed order. Implemented once for float; the double twin is generated at
 * build time.
 */
public interface DecodeKernels {

  /** The implementation for {@code type} (FLOAT or DOUBLE). */
  static DecodeKernels of(DataType type) {
    return type == DataType.DOUBLE ? DoubleDecodeKernels.INSTANCE : FloatDecodeKernels.INSTANCE;
  }

  /**
   * {@link AttentionKernels#appendKv} for one sequence and the heads {@code [h0, h1)} only: adds
   * {@code bias [3*H*dh]} to those heads' columns of {@code qkv [1, 3*H*dh]}, writes their queries to
   * {@code q [H, dh]} and their keys and values at index {@code position} of the caches {@code [H,
   * capacity, dh]}. Touches nothing of the other heads.
   */
  void appendKvHeads(Tensor qkv, Tensor bias, Tensor q, Tensor kCache, Tensor vCache, int heads, int dh, int capacity, int position, int h0, int h1);

  /**
   * {@code dst [cols] = src + bias + partials[0] + ... + partials[parts - 1]}, summed in that order
   * (so the result depends only on {@code parts}); {@code partials} is {@code [parts, cols]}. {@code
   * dst} may be {@code src}.
   */
  void addPartials(Tensor src, Tensor bias, Tensor partials, int parts, Tensor dst, int cols);

  /**
   * {@link #addPartials(Tensor, Tensor, Tensor, int, Tensor, int)} with each part its own tensor:
   * {@code dst = src + bias + partials[0] + ... + partials[partials.length - 1]}, in that order.
   */
  void addPartials(Tensor src, Tensor bias, Tensor[] partials, Tensor dst, int cols);

  /**
   * A block of rows of a matrix times a vector: {@code y[yOff + i] = sum_{j < cols} a[row0 + i, j] *
   * x[j]} for {@code i < rows}, with {@code a} row-major {@code [*, cols]} (e.g. a block of the
   * vocabulary of a tied LM head, {@code wte [V, d]}); touches no other element of {@code y}.
   */
  void rowsTimesVector(Tensor a, int row0, int rows, int cols, Tensor x, Tensor y, int yOff);
}
