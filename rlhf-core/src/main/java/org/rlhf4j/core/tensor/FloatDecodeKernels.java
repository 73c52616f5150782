package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/** The float implementation of {@link DecodeKernels} (the double one is generated from this file). */
final class FloatDecodeKernels implements DecodeKernels {
  static final FloatDecodeKernels INSTANCE = new FloatDecodeKernels();

  private FloatDecodeKernels() {}

  @Override
  public void appendKvHeadsPacked(Tensor local, Tensor bias, Tensor q, Tensor kCache, Tensor vCache, int heads, int dh, int capacity, int position, int h0, int h1) {
    int w = (h1 - h0) * dh;
    if (h0 < 0 || h1 > heads || h0 > h1 || local.length() < 3 * w || bias.length() < 3 * heads * dh) {
      throw new IllegalArgumentException("heads [" + h0 + ", " + h1 + ") of " + heads + ": local " + local + ", bias " + bias);
    }
    FloatBuffer src = local.asFloatBuffer();
    FloatBuffer bb = bias.asFloatBuffer();
    FloatBuffer qb = q.writableFloatBuffer();
    FloatBuffer kb = kCache.writableFloatBuffer();
    FloatBuffer vb = vCache.writableFloatBuffer();
    int d = heads * dh;
    float[] row = Scratch.arrayFloat(0, w);
    float[] b = Scratch.arrayFloat(1, w);
    for (int part = 0; part < 3; part++) { // q, k, v
      src.get(part * w, row, 0, w);
      bb.get(part * d + h0 * dh, b, 0, w);
      for (int j = 0; j < w; j++) {
        row[j] += b[j];
      }
      if (part == 0) {
        qb.put(h0 * dh, row, 0, w);
      } else {
        FloatBuffer cache = part == 1 ? kb : vb;
        for (int h = h0; h < h1; h++) {
          cache.put((h * capacity + position) * dh, row, (h - h0) * dh, dh);
        }
      }
    }
  }

  @Override
  public void copyColumns(Tensor src, int col0, int cols, Tensor dst, int dstCol0) {
    if (src.rank() != 2 || dst.rank() != 2 || src.size(0) != dst.size(0) || col0 < 0 || cols < 0 || col0 + cols > src.size(1)
        || dstCol0 < 0 || dstCol0 + cols > dst.size(1)) {
      throw new IllegalArgumentException(
          "columns [" + col0 + ", " + (col0 + cols) + ") of " + src + " into columns [" + dstCol0 + ", " + (dstCol0 + cols) + ") of " + dst);
    }
    int rows = (int) src.size(0);
    int ls = (int) src.size(1);
    int ld = (int) dst.size(1);
    FloatBuffer s = src.asFloatBuffer();
    FloatBuffer t = dst.writableFloatBuffer();
    for (int r = 0; r < rows; r++) {
      t.put(r * ld + dstCol0, s, r * ls + col0, cols); // buffer to buffer: no copy through the heap
    }
  }

  @Override
  public void addPartials(Tensor src, Tensor bias, Tensor[] partials, Tensor dst, int cols) {
    float[] acc = Scratch.arrayFloat(0, cols);
    float[] add = Scratch.arrayFloat(1, cols);
    src.asFloatBuffer().get(0, acc, 0, cols);
    bias.asFloatBuffer().get(0, add, 0, cols);
    for (int j = 0; j < cols; j++) {
      acc[j] += add[j];
    }
    for (Tensor part : partials) {
      part.asFloatBuffer().get(0, add, 0, cols);
      for (int j = 0; j < cols; j++) {
        acc[j] += add[j];
      }
    }
    dst.writableFloatBuffer().put(0, acc, 0, cols);
  }

  @Override
  public void rowsTimesVector(Tensor a, int row0, int rows, int cols, Tensor x, Tensor y, int yOff) {
    if (a.rank() != 2 || a.size(1) != cols || row0 < 0 || rows < 0 || row0 + rows > a.size(0)) {
      throw new IllegalArgumentException("rows [" + row0 + ", " + (row0 + rows) + ") of " + cols + " columns outside " + a);
    }
    if (x.length() < cols || yOff < 0 || yOff + rows > y.length()) {
      throw new IllegalArgumentException("x " + x + " shorter than " + cols + " or y [" + yOff + ", " + (yOff + rows) + ") outside " + y);
    }
    if (rows > 0) {
      Blas.gemvFloat(false, rows, cols, 1.0, a, row0 * cols, cols, x, 0, 0, y, yOff);
    }
  }
}
