package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/** The float implementation of {@link AttentionKernels} (the double one is generated from this file). */
final class FloatAttentionKernels implements AttentionKernels {
  static final FloatAttentionKernels INSTANCE = new FloatAttentionKernels();

  private FloatAttentionKernels() {}

  @Override
  public void splitQkv(Tensor qkv, Tensor bias, Tensor q, Tensor k, Tensor v, int b, int t, int heads, int dh) {
    FloatBuffer src = qkv.asFloatBuffer();
    FloatBuffer bb = bias.asFloatBuffer();
    FloatBuffer[] dst = {q.writableFloatBuffer(), k.writableFloatBuffer(), v.writableFloatBuffer()};
    int d = heads * dh;
    for (int bi = 0; bi < b; bi++) {
      for (int ti = 0; ti < t; ti++) {
        int row = (bi * t + ti) * 3 * d;
        for (int p = 0; p < 3; p++) {
          FloatBuffer out = dst[p];
          for (int h = 0; h < heads; h++) {
            int s = row + p * d + h * dh;
            int bo = p * d + h * dh;
            int o = ((bi * heads + h) * t + ti) * dh;
            for (int j = 0; j < dh; j++) {
              out.put(o + j, src.get(s + j) + bb.get(bo + j));
            }
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
          int s = ((bi * nHeads + h) * t + ti) * dh;
          int o = (bi * t + ti) * d + h * dh;
          for (int j = 0; j < dh; j++) {
            out.put(o + j, src.get(s + j));
          }
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
          int o = ((bi * nHeads + h) * t + ti) * dh;
          int s = (bi * t + ti) * d + h * dh;
          for (int j = 0; j < dh; j++) {
            out.put(o + j, src.get(s + j));
          }
        }
      }
    }
  }

  @Override
  public void mergeQkvGrad(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, Tensor dBias, int b, int t, int heads, int dh) {
    FloatBuffer[] src = {dq.asFloatBuffer(), dk.asFloatBuffer(), dv.asFloatBuffer()};
    FloatBuffer out = dQkv.writableFloatBuffer();
    FloatBuffer db = dBias.writableFloatBuffer();
    int d = heads * dh;
    for (int bi = 0; bi < b; bi++) {
      for (int ti = 0; ti < t; ti++) {
        int row = (bi * t + ti) * 3 * d;
        for (int p = 0; p < 3; p++) {
          FloatBuffer in = src[p];
          for (int h = 0; h < heads; h++) {
            int o = row + p * d + h * dh;
            int bo = p * d + h * dh;
            int s = ((bi * heads + h) * t + ti) * dh;
            for (int j = 0; j < dh; j++) {
              float g = in.get(s + j);
              out.put(o + j, g);
              db.put(bo + j, db.get(bo + j) + g);
            }
          }
        }
      }
    }
  }

  @Override
  public void causalSoftmax(Tensor scores, int[] keyMask, int b, int heads, int t, double scale) {
    FloatBuffer s = scores.writableFloatBuffer();
    for (int bi = 0; bi < b; bi++) {
      int maskOff = bi * t;
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < t; i++) {
          int row = ((bi * heads + h) * t + i) * t;
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j <= i; j++) {
            if (keyMask[maskOff + j] != 0) {
              max = Math.max(max, scale * s.get(row + j));
            }
          }
          if (max == Double.NEGATIVE_INFINITY) {
            for (int j = 0; j < t; j++) {
              s.put(row + j, (float) 0);
            }
            continue;
          }
          double sum = 0;
          for (int j = 0; j <= i; j++) {
            if (keyMask[maskOff + j] != 0) {
              double e = Math.exp(scale * s.get(row + j) - max);
              sum += e;
              s.put(row + j, (float) e);
            } else {
              s.put(row + j, (float) 0);
            }
          }
          double inv = 1.0 / sum;
          for (int j = 0; j <= i; j++) {
            s.put(row + j, (float) (s.get(row + j) * inv));
          }
          for (int j = i + 1; j < t; j++) {
            s.put(row + j, (float) 0);
          }
        }
      }
    }
  }

  @Override
  public void causalSoftmaxBackward(Tensor probs, Tensor dProbs, int b, int heads, int t, double scale) {
    FloatBuffer p = probs.asFloatBuffer();
    FloatBuffer g = dProbs.writableFloatBuffer();
    int rows = b * heads * t;
    for (int r = 0; r < rows; r++) {
      int i = r % t;
      int row = r * t;
      double dot = 0;
      for (int j = 0; j <= i; j++) {
        dot += (double) p.get(row + j) * g.get(row + j);
      }
      for (int j = 0; j <= i; j++) {
        g.put(row + j, (float) (scale * p.get(row + j) * (g.get(row + j) - dot)));
      }
      for (int j = i + 1; j < t; j++) {
        g.put(row + j, (float) 0);
      }
    }
  }

  @Override
  public void appendKv(Tensor qkv, Tensor bias, Tensor q, Tensor kCache, Tensor vCache, int b, int heads, int dh, int capacity, int position) {
    FloatBuffer src = qkv.asFloatBuffer();
    FloatBuffer bb = bias.asFloatBuffer();
    FloatBuffer qb = q.writableFloatBuffer();
    FloatBuffer kb = kCache.writableFloatBuffer();
    FloatBuffer vb = vCache.writableFloatBuffer();
    int d = heads * dh;
    for (int bi = 0; bi < b; bi++) {
      int row = bi * 3 * d;
      for (int h = 0; h < heads; h++) {
        int bh = bi * heads + h;
        int co = (bh * capacity + position) * dh;
        for (int j = 0; j < dh; j++) {
          int c = h * dh + j;
          qb.put(bh * dh + j, src.get(row + c) + bb.get(c));
          kb.put(co + j, src.get(row + d + c) + bb.get(d + c));
          vb.put(co + j, src.get(row + 2 * d + c) + bb.get(2 * d + c));
        }
      }
    }
  }

  @Override
  public void attendCached(Tensor q, Tensor kCache, Tensor vCache, int[] keyMask, Tensor out, int b, int heads, int capacity, int length, int dh, double scale, double[] scratch) {
    FloatBuffer qb = q.asFloatBuffer();
    FloatBuffer kb = kCache.asFloatBuffer();
    FloatBuffer vb = vCache.asFloatBuffer();
    FloatBuffer ob = out.writableFloatBuffer();
    for (int bi = 0; bi < b; bi++) {
      int maskOff = bi * capacity;
      for (int h = 0; h < heads; h++) {
        int bh = bi * heads + h;
        int qo = bh * dh;
        int co = bh * capacity * dh;
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < length; j++) {
          if (keyMask[maskOff + j] == 0) {
            scratch[j] = Double.NEGATIVE_INFINITY;
            continue;
          }
          int ko = co + j * dh;
          double dot = 0;
          for (int c = 0; c < dh; c++) {
            dot += qb.get(qo + c) * kb.get(ko + c);
          }
          scratch[j] = scale * dot;
          max = Math.max(max, scratch[j]);
        }
        for (int c = 0; c < dh; c++) {
          ob.put(qo + c, (float) 0);
        }
        if (max == Double.NEGATIVE_INFINITY) {
          continue;
        }
        double sum = 0;
        for (int j = 0; j < length; j++) {
          double e = scratch[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(scratch[j] - max);
          scratch[j] = e;
          sum += e;
        }
        double inv = 1.0 / sum;
        for (int j = 0; j < length; j++) {
          if (scratch[j] == 0) {
            continue;
          }
          float w = (float) (scratch[j] * inv);
          int vo = co + j * dh;
          for (int c = 0; c < dh; c++) {
            ob.put(qo + c, ob.get(qo + c) + w * vb.get(vo + c));
          }
        }
      }
    }
  }
}
