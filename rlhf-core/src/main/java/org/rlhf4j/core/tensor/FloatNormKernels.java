package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/**
 * The float implementation of {@link NormKernels} (the double one is generated from this file).
 * Rows are copied into per-thread arrays in bulk and computed there.
 */
final class FloatNormKernels implements NormKernels {
  static final FloatNormKernels INSTANCE = new FloatNormKernels();

  private FloatNormKernels() {}

  @Override
  public void layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor out, Tensor xhat, Tensor rstd, int n, int d, double eps) {
    FloatBuffer xb = x.asFloatBuffer();
    FloatBuffer o = out.writableFloatBuffer();
    FloatBuffer hb = xhat.writableFloatBuffer();
    FloatBuffer rs = rstd.writableFloatBuffer();
    float[] row = Scratch.arrayFloat(0, d);
    float[] g = Scratch.arrayFloat(1, d);
    float[] b = Scratch.arrayFloat(2, d);
    float[] h = Scratch.arrayFloat(3, d);
    float[] y = Scratch.arrayFloat(4, d);
    gamma.asFloatBuffer().get(0, g, 0, d);
    beta.asFloatBuffer().get(0, b, 0, d);
    for (int r = 0; r < n; r++) {
      xb.get(r * d, row, 0, d);
      float mean = sum(row, d) / d;
      for (int j = 0; j < d; j++) {
        h[j] = row[j] - mean;
      }
      float inv = (float) (1.0 / Math.sqrt(dot(h, h, d) / d + eps));
      rs.put(r, inv);
      for (int j = 0; j < d; j++) {
        h[j] *= inv;
      }
      for (int j = 0; j < d; j++) {
        y[j] = h[j] * g[j] + b[j];
      }
      hb.put(r * d, h, 0, d);
      o.put(r * d, y, 0, d);
    }
  }

  /** The sum of {@code a[off..off+n)}, with four independent accumulators. */
  static float sum(float[] a, int off, int n) {
    float s0 = 0;
    float s1 = 0;
    float s2 = 0;
    float s3 = 0;
    int j = off;
    n += off;
    for (; j + 3 < n; j += 4) {
      s0 += a[j];
      s1 += a[j + 1];
      s2 += a[j + 2];
      s3 += a[j + 3];
    }
    for (; j < n; j++) {
      s0 += a[j];
    }
    return (s0 + s1) + (s2 + s3);
  }

  /** The dot product of {@code a[off..off+n)} and {@code b[off..off+n)}, with four independent accumulators. */
  static float dot(float[] a, float[] b, int off, int n) {
    float s0 = 0;
    float s1 = 0;
    float s2 = 0;
    float s3 = 0;
    int j = off;
    n += off;
    for (; j + 3 < n; j += 4) {
      s0 += a[j] * b[j];
      s1 += a[j + 1] * b[j + 1];
      s2 += a[j + 2] * b[j + 2];
      s3 += a[j + 3] * b[j + 3];
    }
    for (; j < n; j++) {
      s0 += a[j] * b[j];
    }
    return (s0 + s1) + (s2 + s3);
  }

  /** The sum of {@code a[0..n)}, with four independent accumulators (the JIT does not reorder float sums). */
  static float sum(float[] a, int n) {
    return sum(a, 0, n);
  }

  /** The dot product of {@code a[0..n)} and {@code b[0..n)}, with four independent accumulators. */
  static float dot(float[] a, float[] b, int n) {
    return dot(a, b, 0, n);
  }


  @Override
  public void layerNormBackward(Tensor dy, Tensor xhat, Tensor rstd, Tensor gamma, Tensor dx, Tensor dGamma, Tensor dBeta, int n, int d) {
    FloatBuffer dyb = dy.asFloatBuffer();
    FloatBuffer hb = xhat.asFloatBuffer();
    FloatBuffer rs = rstd.asFloatBuffer();
    FloatBuffer dxb = dx.writableFloatBuffer();
    float[] g = Scratch.arrayFloat(0, d);
    float[] dyr = Scratch.arrayFloat(1, d);
    float[] h = Scratch.arrayFloat(2, d);
    float[] gv = Scratch.arrayFloat(3, d);
    float[] dxr = Scratch.arrayFloat(4, d);
    float[] accG = Scratch.arrayFloat(5, d);
    float[] accB = Scratch.arrayFloat(6, d);
    gamma.asFloatBuffer().get(0, g, 0, d);
    java.util.Arrays.fill(accG, 0, d, (float) 0);
    java.util.Arrays.fill(accB, 0, d, (float) 0);
    for (int r = 0; r < n; r++) {
      dyb.get(r * d, dyr, 0, d);
      hb.get(r * d, h, 0, d);
      dxb.get(r * d, dxr, 0, d);
      for (int j = 0; j < d; j++) {
        gv[j] = dyr[j] * g[j];
      }
      for (int j = 0; j < d; j++) {
        accG[j] += dyr[j] * h[j];
      }
      for (int j = 0; j < d; j++) {
        accB[j] += dyr[j];
      }
      float mg = sum(gv, d) / d;
      float mgh = dot(gv, h, d) / d;
      float inv = rs.get(r);
      for (int j = 0; j < d; j++) {
        dxr[j] += inv * (gv[j] - mg - h[j] * mgh);
      }
      dxb.put(r * d, dxr, 0, d);
    }
    addInto(dGamma.writableFloatBuffer(), accG, d);
    addInto(dBeta.writableFloatBuffer(), accB, d);
  }

  /** {@code dst[0..n) += src[0..n)}. */
  static void addInto(FloatBuffer dst, float[] src, int n) {
    float[] cur = Scratch.arrayFloat(7, n);
    dst.get(0, cur, 0, n);
    for (int j = 0; j < n; j++) {
      cur[j] += src[j];
    }
    dst.put(0, cur, 0, n);
  }

  @Override
  public void embed(int[] ids, int[] positions, Tensor wte, Tensor wpe, Tensor out, int n, int d) {
    FloatBuffer te = wte.asFloatBuffer();
    FloatBuffer pe = wpe.asFloatBuffer();
    FloatBuffer o = out.writableFloatBuffer();
    float[] a = Scratch.arrayFloat(0, d);
    float[] p = Scratch.arrayFloat(1, d);
    for (int r = 0; r < n; r++) {
      te.get(ids[r] * d, a, 0, d);
      pe.get(positions[r] * d, p, 0, d);
      for (int j = 0; j < d; j++) {
        a[j] += p[j];
      }
      o.put(r * d, a, 0, d);
    }
  }

  @Override
  public void embedBackward(int[] ids, int[] positions, Tensor dOut, Tensor dWte, Tensor dWpe, int n, int d) {
    FloatBuffer g = dOut.asFloatBuffer();
    FloatBuffer te = dWte.writableFloatBuffer();
    FloatBuffer pe = dWpe.writableFloatBuffer();
    float[] gr = Scratch.arrayFloat(0, d);
    float[] acc = Scratch.arrayFloat(1, d);
    for (int r = 0; r < n; r++) {
      g.get(r * d, gr, 0, d);
      te.get(ids[r] * d, acc, 0, d);
      for (int j = 0; j < d; j++) {
        acc[j] += gr[j];
      }
      te.put(ids[r] * d, acc, 0, d);
      pe.get(positions[r] * d, acc, 0, d);
      for (int j = 0; j < d; j++) {
        acc[j] += gr[j];
      }
      pe.put(positions[r] * d, acc, 0, d);
    }
  }
}
