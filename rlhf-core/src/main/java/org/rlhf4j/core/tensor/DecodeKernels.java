package org.rlhf4j.core.tensor;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * Kernels of a KV-cached decode step of one sequence split across threads by heads and by column
 * blocks (see {@code TeamDecodeStep}): each slice appends the keys and values of its own heads, and
 * each slice's share of a product whose inner dimension is split is a partial sum, added up in a fixed
 * order. Implemented once for float; the double twin is generated at build time.
 */
public interface DecodeKernels {

  /** The implementation for {@code type} (FLOAT or DOUBLE). */
  static DecodeKernels of(DataType type) {
    return type == DataType.DOUBLE ? DoubleDecodeKernels.INSTANCE : FloatDecodeKernels.INSTANCE;
  }

  /**
   * {@link AttentionKernels#appendKv} for one sequence and the heads {@code [h0, h1)} only, from those
   * heads' own projections: {@code local [3 * (h1 - h0) * dh]} holds their query, key and value
   * columns side by side (as a product with the packed columns of {@code Wqkv} gives them). Adds the
   * matching elements of {@code bias [3*H*dh]} (the whole bias of {@code qkv}), writes the queries to
   * {@code q [H, dh]} and the keys and values at index {@code position} of the caches {@code [H,
   * capacity, dh]}. Touches nothing of the other heads.
   */
  void appendKvHeadsPacked(Tensor local, Tensor bias, Tensor q, Tensor kCache, Tensor vCache, int heads, int dh, int capacity, int position, int h0, int h1);

  /**
   * Copies columns {@code [col0, col0 + cols)} of the row-major matrix {@code src [rows, *]} into
   * columns {@code [dstCol0, dstCol0 + cols)} of {@code dst [rows, *]} (e.g. a thread's block of a
   * weight matrix, packed so that the thread reads contiguous memory).
   */
  void copyColumns(Tensor src, int col0, int cols, Tensor dst, int dstCol0);

  /**
   * {@code dst [cols] = src + bias + partials[0] + ... + partials[partials.length - 1]}, summed in that
   * order (so the result depends only on the number of parts); {@code dst} may be {@code src}.
   */
  void addPartials(Tensor src, Tensor bias, Tensor[] partials, Tensor dst, int cols);

  /**
   * A block of rows of a matrix times a vector: {@code y[yOff + i] = sum_{j < cols} a[row0 + i, j] *
   * x[j]} for {@code i < rows}, with {@code a} row-major {@code [*, cols]} (e.g. a block of the
   * vocabulary of a tied LM head, {@code wte [V, d]}); touches no other element of {@code y}.
   */
  void rowsTimesVector(Tensor a, int row0, int rows, int cols, Tensor x, Tensor y, int yOff);
}
