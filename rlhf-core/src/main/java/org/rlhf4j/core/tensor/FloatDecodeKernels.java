package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/** The float implementation of {@link DecodeKernels} (the double one is generated from this file). */
final class FloatDecodeKernels implements DecodeKernels {
  static final FloatDecodeKernels INSTANCE = new FloatDecodeKernels();

  private FloatDecodeKernels() {}

  @Override
  public void appendKvHeads(Tensor qkv, Tensor bias, Tensor q, Tensor kCache, Tensor vCache, int heads, int dh, int capacity, int position, int h0, int h1) {
    FloatBuffer src = qkv.asFloatBuffer();
    FloatBuffer bb = bias.asFloatBuffer();
    FloatBuffer qb = q.writableFloatBuffer();
    FloatBuffer kb = kCache.writableFloatBuffer();
    FloatBuffer vb = vCache.writableFloatBuffer();
    int d = heads * dh;
    int w = (h1 - h0) * dh;
    float[] row = Scratch.arrayFloat(0, w);
    float[] b = Scratch.arrayFloat(1, w);
    for (int part = 0; part < 3; part++) { // q, k, v
      int from = part * d + h0 * dh;
      src.get(from, row, 0, w);
      bb.get(from, b, 0, w);
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
  public void addPartials(Tensor src, Tensor bias, Tensor partials, int parts, Tensor dst, int cols) {
    float[] acc = Scratch.arrayFloat(0, cols);
    float[] add = Scratch.arrayFloat(1, cols);
    src.asFloatBuffer().get(0, acc, 0, cols);
    bias.asFloatBuffer().get(0, add, 0, cols);
    for (int j = 0; j < cols; j++) {
      acc[j] += add[j];
    }
    FloatBuffer pb = partials.asFloatBuffer();
    for (int p = 0; p < parts; p++) {
      pb.get(p * cols, add, 0, cols);
      for (int j = 0; j < cols; j++) {
        acc[j] += add[j];
      }
    }
    dst.writableFloatBuffer().put(0, acc, 0, cols);
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
