package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/**
 * The float implementation of {@link AttentionKernels} (the double one is generated from this
 * file). Rows are copied into per-thread arrays in bulk and computed there.
 */
final class FloatAttentionKernels implements AttentionKernels {
  static final FloatAttentionKernels INSTANCE = new FloatAttentionKernels();

  private FloatAttentionKernels() {}

  @Override
  public void splitQkv(Tensor qkv, Tensor bias, Tensor q, Tensor k, Tensor v, int b, int t, int heads, int dh) {
    FloatBuffer src = qkv.asFloatBuffer();
    FloatBuffer[] dst = {q.writableFloatBuffer(), k.writableFloatBuffer(), v.writableFloatBuffer()};
    int d = heads * dh;
    float[] bb = Scratch.arrayFloat(0, 3 * d);
    float[] row = Scratch.arrayFloat(1, 3 * d);
    bias.asFloatBuffer().get(0, bb, 0, 3 * d);
    for (int bi = 0; bi < b; bi++) {
      for (int ti = 0; ti < t; ti++) {
        src.get((bi * t + ti) * 3 * d, row, 0, 3 * d);
        for (int j = 0; j < 3 * d; j++) {
          row[j] += bb[j];
        }
        for (int p = 0; p < 3; p++) {
          for (int h = 0; h < heads; h++) {
            dst[p].put(((bi * heads + h) * t + ti) * dh, row, p * d + h * dh, dh);
          }
        }
      }
    }
  }

  @Override
  public void mergeHeads(Tensor heads, Tensor y, int b, int t, int nHeads, int dh) {
    FloatBuffer src = heads.asFloatBuffer();
    FloatBuffer out = y.writableFloatBuffer();
    int d = nHeads * dh;
    for (int bi = 0; bi < b; bi++) {
      for (int h = 0; h < nHeads; h++) {
        for (int ti = 0; ti < t; ti++) {
          out.put((bi * t + ti) * d + h * dh, src, ((bi * nHeads + h) * t + ti) * dh, dh);
        }
      }
    }
  }

  @Override
  public void splitHeads(Tensor y, Tensor heads, int b, int t, int nHeads, int dh) {
    FloatBuffer src = y.asFloatBuffer();
    FloatBuffer out = heads.writableFloatBuffer();
    int d = nHeads * dh;
    for (int bi = 0; bi < b; bi++) {
      for (int h = 0; h < nHeads; h++) {
        for (int ti = 0; ti < t; ti++) {
          out.put(((bi * nHeads + h) * t + ti) * dh, src, (bi * t + ti) * d + h * dh, dh);
        }
      }
    }
  }

  @Override
  public void mergeQkvGrad(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, Tensor dBias, int b, int t, int heads, int dh) {
    FloatBuffer[] src = {dq.asFloatBuffer(), dk.asFloatBuffer(), dv.asFloatBuffer()};
    FloatBuffer out = dQkv.writableFloatBuffer();
    int d = heads * dh;
    float[] row = Scratch.arrayFloat(0, 3 * d);
    float[] acc = Scratch.arrayFloat(1, 3 * d);
    java.util.Arrays.fill(acc, 0, 3 * d, (float) 0);
    for (int bi = 0; bi < b; bi++) {
      for (int ti = 0; ti < t; ti++) {
        for (int p = 0; p < 3; p++) {
          for (int h = 0; h < heads; h++) {
            src[p].get(((bi * heads + h) * t + ti) * dh, row, p * d + h * dh, dh);
          }
        }
        for (int j = 0; j < 3 * d; j++) {
          acc[j] += row[j];
        }
        out.put((bi * t + ti) * 3 * d, row, 0, 3 * d);
      }
    }
    FloatNormKernels.addInto(dBias.writableFloatBuffer(), acc, 3 * d);
  }

  /**
   * Row {@code i} of each head's scores: the first {@code i + 1} entries are scaled, exponentiated and
   * normalised, the rest set to 0. Each head's {@code [t, t]} block is copied in and out in one piece
   * and exponentiated as a whole with {@link KernelMath#exp(float[], float[], int)} (vectorised
   * passes; twice the entries, but far faster than row by row: the rows are short), the entries
   * above the diagonal (clamped, finite) then cleared.
   */
  @Override
  public void causalSoftmax(Tensor scores, int[] keyMask, int b, int heads, int t, double scale) {
    for (int bi = 0; bi < b; bi++) {
      causalSoftmaxOf(scores.rows((long) bi * heads, (long) (bi + 1) * heads), keyMask, bi * t, heads, t, scale);
    }
  }

  @Override
  public void causalSoftmaxOf(Tensor scores, int[] keyMask, int maskOffset, int heads, int t, double scale) {
    causalSoftmaxRows(scores, 0, heads * t, t, keyMask, maskOffset, (float) scale);
  }

  /**
   * In place: the masked causal softmax of the {@code rows x t} scores from element {@code base} of
   * {@code att} (row {@code r} is query position {@code r % t}; keys {@code j > r % t} and hidden keys,
   * {@code keyMask[maskOff + j] == 0}, get 0; a row with no visible key is all 0), scaled by {@code
   * scale}. Only the causal triangle is computed: its exponentials in one vectorised call (over
   * the whole block: the vectorised exp only pays from a few hundred elements). One query head of
   * GPT-2 ({@link #causalSoftmaxOf}) or the {@code rep} query heads sharing a key/value head of
   * Llama (stacked rows) alike.
   */
  static void causalSoftmaxRows(Tensor att, int base, int rows, int t, int[] keyMask, int maskOff, float scale) {
    FloatBuffer ab = att.writableFloatBuffer();
    int tri = rows * (t + 1) / 2 + t;
    float[] m = Scratch.arrayFloat(0, rows * t);
    float[] e = Scratch.arrayFloat(1, tri);
    float[] tmp = Scratch.arrayFloat(2, tri);
    float[] on = Scratch.arrayFloat(3, t);
    float[] shift = Scratch.arrayFloat(4, rows);
    boolean all = true;
    for (int j = 0; j < t; j++) {
      boolean visible = keyMask[maskOff + j] != 0;
      on[j] = visible ? 1 : 0;
      all &= visible;
    }
    ab.get(base, m, 0, rows * t);
    // The element-wise loops below index their arrays alike (m[j] from m[j]): the JIT vectorises such
    // a loop, not one that reads and writes at two different offsets (it cannot rule out that they
    // overlap). Rows move between the square block and the packed triangle by System.arraycopy.
    int pk = 0;
    for (int r = 0; r < rows; r++) {
      int off = r * t;
      int len = r % t + 1;
      float max;
      if (all) {
        max = KernelMath.max(m, off, len);
      } else {
        max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < len; j++) {
          max = on[j] != 0 && m[off + j] > max ? m[off + j] : max;
        }
      }
      shift[r] = max;
      float sh = max == Float.NEGATIVE_INFINITY ? 0 : max * scale;
      if (all) {
        for (int j = off; j < off + len; j++) {
          m[j] = m[j] * scale - sh;
        }
      } else {
        // Hidden keys may exceed the maximum, by more than exp's range: at most 0 before the
        // exponential (exact in double, which would overflow to infinity, and infinity times the
        // mask's 0 is NaN). Visible keys are at most 0 already.
        for (int j = off; j < off + len; j++) {
          m[j] = Math.min(m[j] * scale - sh, (float) 0);
        }
      }
      System.arraycopy(m, off, e, pk, len);
      pk += len;
    }
    KernelMath.exp(e, tmp, pk);
    pk = 0;
    for (int r = 0; r < rows; r++) {
      int off = r * t;
      int len = r % t + 1;
      if (shift[r] == Float.NEGATIVE_INFINITY) { // no visible key
        java.util.Arrays.fill(m, off, off + t, (float) 0);
        pk += len;
        continue;
      }
      System.arraycopy(e, pk, m, off, len);
      if (!all) {
        for (int j = 0; j < len; j++) {
          m[off + j] *= on[j];
        }
      }
      float inv = (float) (1.0 / FloatNormKernels.sum(m, off, len));
      for (int j = off; j < off + len; j++) {
        m[j] *= inv;
      }
      java.util.Arrays.fill(m, off + len, off + t, (float) 0);
      pk += len;
    }
    ab.put(base, m, 0, rows * t);
  }

  @Override
  public void causalSoftmaxBackward(Tensor probs, Tensor dProbs, int b, int heads, int t, double scale) {
    FloatBuffer pb = probs.asFloatBuffer();
    FloatBuffer gb = dProbs.writableFloatBuffer();
    float[] p = Scratch.arrayFloat(0, t * t);
    float[] g = Scratch.arrayFloat(1, t * t);
    float sc = (float) scale;
    for (int bh = 0; bh < b * heads; bh++) {
      int base = bh * t * t;
      pb.get(base, p, 0, t * t);
      gb.get(base, g, 0, t * t);
      for (int i = 0; i < t; i++) {
        int off = i * t;
        int len = i + 1;
        float fd = FloatNormKernels.dot(p, g, off, len);
        for (int j = off; j < off + len; j++) {
          g[j] = sc * p[j] * (g[j] - fd);
        }
        java.util.Arrays.fill(g, off + len, off + t, (float) 0);
      }
      gb.put(base, g, 0, t * t);
    }
  }

  @Override
  public void appendKv(Tensor qkv, Tensor bias, Tensor q, Tensor kCache, Tensor vCache, int b, int heads, int dh, int capacity, int position) {
    FloatBuffer src = qkv.asFloatBuffer();
    FloatBuffer qb = q.writableFloatBuffer();
    FloatBuffer kb = kCache.writableFloatBuffer();
    FloatBuffer vb = vCache.writableFloatBuffer();
    int d = heads * dh;
    float[] bb = Scratch.arrayFloat(0, 3 * d);
    float[] row = Scratch.arrayFloat(1, 3 * d);
    bias.asFloatBuffer().get(0, bb, 0, 3 * d);
    for (int bi = 0; bi < b; bi++) {
      src.get(bi * 3 * d, row, 0, 3 * d);
      for (int j = 0; j < 3 * d; j++) {
        row[j] += bb[j];
      }
      qb.put(bi * d, row, 0, d);
      for (int h = 0; h < heads; h++) {
        int co = ((bi * heads + h) * capacity + position) * dh;
        kb.put(co, row, d + h * dh, dh);
        vb.put(co, row, 2 * d + h * dh, dh);
      }
    }
  }

  /**
   * Per head, two matrix-vector products over the cache (OpenBLAS's AVX kernels; the JIT does not
   * vectorise the dot products of a head width of 32): scores {@code s = K q} into a native scratch
   * vector, the masked softmax in Java, and {@code out = V^T p}.
   */
  @Override
  public void attendCached(Tensor q, Tensor kCache, Tensor vCache, int[] keyMask, Tensor out, int b, int heads, int capacity, int length, int dh, double scale) {
    Tensor sv = Scratch.tensorFloat(length);
    FloatBuffer sb = sv.writableFloatBuffer();
    float[] w = Scratch.arrayFloat(3, length);
    for (int bi = 0; bi < b; bi++) {
      int maskOff = bi * capacity;
      for (int h = 0; h < heads; h++) {
        int bh = bi * heads + h;
        int co = bh * capacity * dh;
        Blas.gemvFloat(false, length, dh, scale, kCache, co, dh, q, bh * dh, 0, sv, 0); // s = scale * K q
        sb.get(0, w, 0, length);
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < length; j++) {
          if (keyMask[maskOff + j] != 0) {
            max = Math.max(max, w[j]);
          }
        }
        if (max == Float.NEGATIVE_INFINITY) { // no visible key: a zero output
          FloatBuffer ob = out.writableFloatBuffer();
          for (int c = 0; c < dh; c++) {
            ob.put(bh * dh + c, (float) 0);
          }
          continue;
        }
        double sum = 0;
        for (int j = 0; j < length; j++) {
          w[j] = keyMask[maskOff + j] == 0 ? 0 : KernelMath.exp(w[j] - max);
          sum += w[j];
        }
        float inv = (float) (1.0 / sum);
        for (int j = 0; j < length; j++) {
          w[j] *= inv;
        }
        sb.put(0, w, 0, length);
        Blas.gemvFloat(true, length, dh, 1.0, vCache, co, dh, sv, 0, 0, out, bh * dh); // out = V^T p
      }
    }
  }
}
