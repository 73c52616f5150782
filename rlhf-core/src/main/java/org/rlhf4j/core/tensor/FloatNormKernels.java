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
    float[] row2 = Scratch.arrayFloat(5, d);
    float[] h2 = Scratch.arrayFloat(6, d);
    float[] y2 = Scratch.arrayFloat(7, d);
    float[] two = new float[2];
    gamma.asFloatBuffer().get(0, g, 0, d);
    beta.asFloatBuffer().get(0, b, 0, d);
    int r = 0;
    for (; r + 1 < n; r += 2) { // two rows at a time: their sums' chains of additions interleaved
      xb.get(r * d, row, 0, d);
      xb.get((r + 1) * d, row2, 0, d);
      sumsOf(row, row2, d, two);
      float mean = two[0] / d;
      float mean2 = two[1] / d;
      for (int j = 0; j < d; j++) {
        h[j] = row[j] - mean;
        h2[j] = row2[j] - mean2;
      }
      dotsOf(h, h, h2, h2, d, two);
      float inv = (float) (1.0 / Math.sqrt(two[0] / d + eps));
      float inv2 = (float) (1.0 / Math.sqrt(two[1] / d + eps));
      rs.put(r, inv);
      rs.put(r + 1, inv2);
      for (int j = 0; j < d; j++) {
        float v = h[j] * inv;
        h[j] = v;
        y[j] = v * g[j] + b[j];
        float v2 = h2[j] * inv2;
        h2[j] = v2;
        y2[j] = v2 * g[j] + b[j];
      }
      hb.put(r * d, h, 0, d);
      hb.put((r + 1) * d, h2, 0, d);
      o.put(r * d, y, 0, d);
      o.put((r + 1) * d, y2, 0, d);
    }
    for (; r < n; r++) {
      xb.get(r * d, row, 0, d);
      float mean = sum(row, d) / d;
      for (int j = 0; j < d; j++) {
        h[j] = row[j] - mean;
      }
      float inv = (float) (1.0 / Math.sqrt(dot(h, h, d) / d + eps));
      rs.put(r, inv);
      for (int j = 0; j < d; j++) {
        float v = h[j] * inv;
        h[j] = v;
        y[j] = v * g[j] + b[j];
      }
      hb.put(r * d, h, 0, d);
      o.put(r * d, y, 0, d);
    }
  }

  /**
   * {@code out[0] = sum(a, n)} and {@code out[1] = sum(b, n)} ({@link #sum(float[], int)}: the same
   * numbers), the two rows' chains of additions interleaved: each chain is bound by the latency of its
   * additions, so two rows take little longer than one.
   */
  static void sumsOf(float[] a, float[] b, int n, float[] out) {
    float s0 = 0;
    float s1 = 0;
    float s2 = 0;
    float s3 = 0;
    float t0 = 0;
    float t1 = 0;
    float t2 = 0;
    float t3 = 0;
    int j = 0;
    for (; j + 3 < n; j += 4) {
      s0 += a[j];
      s1 += a[j + 1];
      s2 += a[j + 2];
      s3 += a[j + 3];
      t0 += b[j];
      t1 += b[j + 1];
      t2 += b[j + 2];
      t3 += b[j + 3];
    }
    for (; j < n; j++) {
      s0 += a[j];
      t0 += b[j];
    }
    out[0] = (s0 + s1) + (s2 + s3);
    out[1] = (t0 + t1) + (t2 + t3);
  }

  /** {@code out[0] = dot(a, b, n)} and {@code out[1] = dot(c, e, n)} ({@link #dot(float[], float[], int)}), interleaved as {@link #sumsOf}. */
  static void dotsOf(float[] a, float[] b, float[] c, float[] e, int n, float[] out) {
    float s0 = 0;
    float s1 = 0;
    float s2 = 0;
    float s3 = 0;
    float t0 = 0;
    float t1 = 0;
    float t2 = 0;
    float t3 = 0;
    int j = 0;
    for (; j + 3 < n; j += 4) {
      s0 += a[j] * b[j];
      s1 += a[j + 1] * b[j + 1];
      s2 += a[j + 2] * b[j + 2];
      s3 += a[j + 3] * b[j + 3];
      t0 += c[j] * e[j];
      t1 += c[j + 1] * e[j + 1];
      t2 += c[j + 2] * e[j + 2];
      t3 += c[j + 3] * e[j + 3];
    }
    for (; j < n; j++) {
      s0 += a[j] * b[j];
      t0 += c[j] * e[j];
    }
    out[0] = (s0 + s1) + (s2 + s3);
    out[1] = (t0 + t1) + (t2 + t3);
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
    float[] dyr2 = Scratch.arrayFloat(8, d);
    float[] h2 = Scratch.arrayFloat(9, d);
    float[] gv2 = Scratch.arrayFloat(10, d);
    float[] dxr2 = Scratch.arrayFloat(11, d);
    float[] mg = new float[2];
    float[] mgh = new float[2];
    gamma.asFloatBuffer().get(0, g, 0, d);
    java.util.Arrays.fill(accG, 0, d, (float) 0);
    java.util.Arrays.fill(accB, 0, d, (float) 0);
    int r = 0;
    for (; r + 1 < n; r += 2) { // two rows at a time, as the forward pass (the gains' gradients summed row after row)
      dyb.get(r * d, dyr, 0, d);
      dyb.get((r + 1) * d, dyr2, 0, d);
      hb.get(r * d, h, 0, d);
      hb.get((r + 1) * d, h2, 0, d);
      dxb.get(r * d, dxr, 0, d);
      dxb.get((r + 1) * d, dxr2, 0, d);
      for (int j = 0; j < d; j++) {
        float v = dyr[j];
        float v2 = dyr2[j];
        gv[j] = v * g[j];
        gv2[j] = v2 * g[j];
        accG[j] += v * h[j];
        accG[j] += v2 * h2[j];
        accB[j] += v;
        accB[j] += v2;
      }
      sumsOf(gv, gv2, d, mg);
      dotsOf(gv, h, gv2, h2, d, mgh);
      float m1 = mg[0] / d;
      float m2 = mgh[0] / d;
      float n1 = mg[1] / d;
      float n2 = mgh[1] / d;
      float inv = rs.get(r);
      float inv2 = rs.get(r + 1);
      for (int j = 0; j < d; j++) {
        dxr[j] += inv * (gv[j] - m1 - h[j] * m2);
        dxr2[j] += inv2 * (gv2[j] - n1 - h2[j] * n2);
      }
      dxb.put(r * d, dxr, 0, d);
      dxb.put((r + 1) * d, dxr2, 0, d);
    }
    for (; r < n; r++) {
      dyb.get(r * d, dyr, 0, d);
      hb.get(r * d, h, 0, d);
      dxb.get(r * d, dxr, 0, d);
      for (int j = 0; j < d; j++) {
        float v = dyr[j];
        gv[j] = v * g[j];
        accG[j] += v * h[j];
        accB[j] += v;
      }
      float m1 = sum(gv, d) / d;
      float m2 = dot(gv, h, d) / d;
      float inv = rs.get(r);
      for (int j = 0; j < d; j++) {
        dxr[j] += inv * (gv[j] - m1 - h[j] * m2);
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
