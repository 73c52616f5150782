package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/**
 * The float implementation of {@link LlamaKernels} (the double one is generated from this file).
 * Rows are copied into per-thread arrays in bulk and computed there; sums of squares and softmax
 * normalisers accumulate in double.
 */
final class FloatLlamaKernels implements LlamaKernels {
  static final FloatLlamaKernels INSTANCE = new FloatLlamaKernels();
  private static final float ONE = (float) 1;
  private static final int CHUNK = 4096;

  private FloatLlamaKernels() {}

  @Override
  public void embed(int[] ids, Tensor table, Tensor out, int n, int d) {
    FloatBuffer tb = table.asFloatBuffer();
    FloatBuffer o = out.writableFloatBuffer();
    float[] row = Scratch.arrayFloat(0, d);
    for (int r = 0; r < n; r++) {
      tb.get(ids[r] * d, row, 0, d);
      o.put(r * d, row, 0, d);
    }
  }

  @Override
  public void embedBackward(int[] ids, Tensor dOut, Tensor dTable, int n, int d) {
    FloatBuffer g = dOut.asFloatBuffer();
    FloatBuffer tb = dTable.writableFloatBuffer();
    float[] src = Scratch.arrayFloat(0, d);
    float[] dst = Scratch.arrayFloat(1, d);
    for (int r = 0; r < n; r++) {
      int off = ids[r] * d;
      g.get(r * d, src, 0, d);
      tb.get(off, dst, 0, d);
      for (int j = 0; j < d; j++) {
        dst[j] += src[j];
      }
      tb.put(off, dst, 0, d);
    }
  }

  @Override
  public void rmsNorm(Tensor x, Tensor gamma, Tensor out, Tensor rstd, int n, int d, double eps) {
    FloatBuffer xb = x.asFloatBuffer();
    FloatBuffer o = out.writableFloatBuffer();
    FloatBuffer rs = rstd.writableFloatBuffer();
    float[] row = Scratch.arrayFloat(0, d);
    float[] g = Scratch.arrayFloat(1, d);
    float[] y = Scratch.arrayFloat(2, d);
    gamma.asFloatBuffer().get(0, g, 0, d);
    for (int r = 0; r < n; r++) {
      xb.get(r * d, row, 0, d);
      double ss = 0;
      for (int j = 0; j < d; j++) {
        double v = row[j];
        ss += v * v;
      }
      float inv = (float) (1.0 / Math.sqrt(ss / d + eps));
      rs.put(r, inv);
      for (int j = 0; j < d; j++) {
        y[j] = g[j] * (row[j] * inv);
      }
      o.put(r * d, y, 0, d);
    }
  }

  @Override
  public void rmsNormBackward(Tensor dy, Tensor x, Tensor rstd, Tensor gamma, Tensor dx, Tensor dGamma, int n, int d) {
    FloatBuffer gy = dy.asFloatBuffer();
    FloatBuffer xb = x.asFloatBuffer();
    FloatBuffer rs = rstd.asFloatBuffer();
    FloatBuffer dxb = dx.writableFloatBuffer();
    FloatBuffer dgb = dGamma == null ? null : dGamma.writableFloatBuffer();
    float[] g = Scratch.arrayFloat(0, d);
    float[] dg = Scratch.arrayFloat(1, d);
    float[] row = Scratch.arrayFloat(2, d);
    float[] up = Scratch.arrayFloat(3, d);
    float[] acc = Scratch.arrayFloat(4, d);
    gamma.asFloatBuffer().get(0, g, 0, d);
    if (dgb != null) {
      dgb.get(0, dg, 0, d);
    }
    for (int r = 0; r < n; r++) {
      float inv = rs.get(r);
      xb.get(r * d, row, 0, d);
      gy.get(r * d, up, 0, d);
      dxb.get(r * d, acc, 0, d);
      if (dgb != null) {
        for (int j = 0; j < d; j++) {
          dg[j] += up[j] * row[j] * inv; // dGamma += dy * xhat
        }
      }
      double dot = 0;
      for (int j = 0; j < d; j++) {
        up[j] *= g[j]; // u = gamma * dy
        double u = up[j];
        dot += u * row[j];
      }
      // dx = rstd * u - x * rstd^3 * mean(u * x)
      float c = (float) (dot / d * inv * inv * inv);
      for (int j = 0; j < d; j++) {
        acc[j] += inv * up[j] - c * row[j];
      }
      dxb.put(r * d, acc, 0, d);
    }
    if (dgb != null) {
      dgb.put(0, dg, 0, d);
    }
  }

  @Override
  public void rope(Tensor heads, Tensor cos, Tensor sin, int[] positions, int b, int nHeads, int t, int dh, boolean inverse) {
    FloatBuffer hb = heads.writableFloatBuffer();
    FloatBuffer cb = cos.asFloatBuffer();
    FloatBuffer sb = sin.asFloatBuffer();
    int half = dh / 2;
    float[] row = Scratch.arrayFloat(0, dh);
    float[] c = Scratch.arrayFloat(1, half);
    float[] s = Scratch.arrayFloat(2, half);
    for (int bi = 0; bi < b; bi++) {
      for (int ti = 0; ti < t; ti++) {
        int p = positions[bi * t + ti];
        cb.get(p * half, c, 0, half);
        sb.get(p * half, s, 0, half);
        if (inverse) {
          for (int i = 0; i < half; i++) {
            s[i] = -s[i];
          }
        }
        for (int h = 0; h < nHeads; h++) {
          int off = ((bi * nHeads + h) * t + ti) * dh;
          hb.get(off, row, 0, dh);
          for (int i = 0; i < half; i++) {
            float x1 = row[i];
            float x2 = row[i + half];
            row[i] = x1 * c[i] - x2 * s[i];
            row[i + half] = x2 * c[i] + x1 * s[i];
          }
          hb.put(off, row, 0, dh);
        }
      }
    }
  }

  @Override
  public void addBias(Tensor x, Tensor bias, int n, int cols) {
    FloatBuffer xb = x.writableFloatBuffer();
    float[] bb = Scratch.arrayFloat(0, cols);
    float[] row = Scratch.arrayFloat(1, cols);
    bias.asFloatBuffer().get(0, bb, 0, cols);
    for (int r = 0; r < n; r++) {
      xb.get(r * cols, row, 0, cols);
      for (int j = 0; j < cols; j++) {
        row[j] += bb[j];
      }
      xb.put(r * cols, row, 0, cols);
    }
  }

  @Override
  public void siluGate(Tensor gate, Tensor up, Tensor act, int count) {
    FloatBuffer gb = gate.asFloatBuffer();
    FloatBuffer ub = up.asFloatBuffer();
    FloatBuffer ab = act.writableFloatBuffer();
    float[] g = Scratch.arrayFloat(0, CHUNK);
    float[] u = Scratch.arrayFloat(1, CHUNK);
    float[] e = Scratch.arrayFloat(2, CHUNK);
    float[] tmp = Scratch.arrayFloat(3, CHUNK);
    for (int start = 0; start < count; start += CHUNK) {
      int len = Math.min(CHUNK, count - start);
      gb.get(start, g, 0, len);
      ub.get(start, u, 0, len);
      for (int j = 0; j < len; j++) {
        e[j] = -g[j];
      }
      KernelMath.exp(e, tmp, len); // e^-g for the whole chunk (vectorised)
      for (int j = 0; j < len; j++) {
        u[j] *= g[j] / (ONE + e[j]);
      }
      ab.put(start, u, 0, len);
    }
  }

  @Override
  public void siluGateBackward(Tensor dAct, Tensor gate, Tensor up, Tensor dGate, Tensor dUp, int count) {
    FloatBuffer db = dAct.asFloatBuffer();
    FloatBuffer gb = gate.asFloatBuffer();
    FloatBuffer ub = up.asFloatBuffer();
    FloatBuffer dgb = dGate.writableFloatBuffer();
    FloatBuffer dub = dUp.writableFloatBuffer();
    float[] da = Scratch.arrayFloat(0, CHUNK);
    float[] g = Scratch.arrayFloat(1, CHUNK);
    float[] u = Scratch.arrayFloat(2, CHUNK);
    float[] outG = Scratch.arrayFloat(3, CHUNK);
    float[] outU = Scratch.arrayFloat(4, CHUNK);
    float[] e = Scratch.arrayFloat(5, CHUNK);
    float[] tmp = Scratch.arrayFloat(6, CHUNK);
    for (int start = 0; start < count; start += CHUNK) {
      int len = Math.min(CHUNK, count - start);
      db.get(start, da, 0, len);
      gb.get(start, g, 0, len);
      ub.get(start, u, 0, len);
      for (int j = 0; j < len; j++) {
        e[j] = -g[j];
      }
      KernelMath.exp(e, tmp, len); // e^-g for the whole chunk (vectorised)
      for (int j = 0; j < len; j++) {
        float sig = ONE / (ONE + e[j]);
        outU[j] = da[j] * g[j] * sig;
        outG[j] = da[j] * u[j] * sig * (ONE + g[j] * (ONE - sig));
      }
      dgb.put(start, outG, 0, len);
      dub.put(start, outU, 0, len);
    }
  }

  @Override
  public void appendCache(Tensor rows, Tensor cache, int b, int kvHeads, int dh, int capacity, int position) {
    FloatBuffer rb = rows.asFloatBuffer();
    FloatBuffer cb = cache.writableFloatBuffer();
    float[] tmp = Scratch.arrayFloat(0, dh);
    for (int bi = 0; bi < b; bi++) {
      for (int g = 0; g < kvHeads; g++) {
        rb.get((bi * kvHeads + g) * dh, tmp, 0, dh);
        cb.put(((bi * kvHeads + g) * capacity + position) * dh, tmp, 0, dh);
      }
    }
  }

  @Override
  public void attendCachedGrouped(
      Tensor q, Tensor kCache, Tensor vCache, int[] keyMask, Tensor out, int b, int heads, int kvHeads, int capacity, int length, int dh, double scale) {
    FloatBuffer qb = q.asFloatBuffer();
    FloatBuffer kb = kCache.asFloatBuffer();
    FloatBuffer vb = vCache.asFloatBuffer();
    FloatBuffer ob = out.writableFloatBuffer();
    int rep = heads / kvHeads;
    float[] qr = Scratch.arrayFloat(0, dh);
    float[] ks = Scratch.arrayFloat(1, length * dh);
    float[] vs = Scratch.arrayFloat(2, length * dh);
    float[] acc = Scratch.arrayFloat(3, dh);
    float[] w = Scratch.arrayFloat(4, length);
    for (int bi = 0; bi < b; bi++) {
      int maskOff = bi * capacity;
      for (int g = 0; g < kvHeads; g++) {
        int co = (bi * kvHeads + g) * capacity * dh;
        kb.get(co, ks, 0, length * dh);
        vb.get(co, vs, 0, length * dh);
        for (int hr = 0; hr < rep; hr++) {
          int bh = bi * heads + g * rep + hr;
          qb.get(bh * dh, qr, 0, dh);
          float max = Float.NEGATIVE_INFINITY;
          for (int j = 0; j < length; j++) {
            if (keyMask[maskOff + j] == 0) {
              w[j] = Float.NEGATIVE_INFINITY;
              continue;
            }
            float dot = 0;
            for (int c = 0; c < dh; c++) {
              dot += qr[c] * ks[j * dh + c];
            }
            w[j] = (float) (scale * dot);
            max = Math.max(max, w[j]);
          }
          java.util.Arrays.fill(acc, 0, dh, (float) 0);
          if (max != Float.NEGATIVE_INFINITY) {
            double z = 0;
            for (int j = 0; j < length; j++) {
              w[j] = keyMask[maskOff + j] == 0 ? 0 : KernelMath.exp(w[j] - max);
              z += w[j];
            }
            float inv = (float) (1.0 / z);
            for (int j = 0; j < length; j++) {
              float p = w[j] * inv;
              if (p != 0) {
                for (int c = 0; c < dh; c++) {
                  acc[c] += p * vs[j * dh + c];
                }
              }
            }
          }
          ob.put(bh * dh, acc, 0, dh);
        }
      }
    }
  }

  /** Rotates {@code row[0, 2*half)} in place: {@code (x[i], x[i+half])} by the angle of {@code (c[i], sign * s[i])}. */
  private static void rotate(float[] row, float[] c, float[] s, int half, float sign) {
    for (int i = 0; i < half; i++) {
      float x1 = row[i];
      float x2 = row[i + half];
      float si = sign * s[i];
      row[i] = x1 * c[i] - x2 * si;
      row[i + half] = x2 * c[i] + x1 * si;
    }
  }

  /** Matrix {@code i} of a batch of {@code rows x cols} matrices stored one after another. */
  private static Tensor matrix(Tensor batch, int i, long rows, long cols) {
    return batch.reshape(batch.length() / (rows * cols), rows, cols).rows(i, i + 1).reshape(rows, cols);
  }

  @Override
  public void attentionForward(
      Tensor q2, Tensor k2, Tensor v2, Tensor cos, Tensor sin, int[] positions, int[] keyMask, Tensor q, Tensor k, Tensor v,
      Tensor att, Tensor yh, Tensor y, int b, int t, int heads, int kvHeads, int dh, double scale, int g0, int g1) {
    int rep = heads / kvHeads;
    int qd = heads * dh;
    int kvd = kvHeads * dh;
    int half = dh / 2;
    long rt = (long) rep * t;
    FloatBuffer qs = q2.asFloatBuffer();
    FloatBuffer ks = k2.asFloatBuffer();
    FloatBuffer vs = v2.asFloatBuffer();
    FloatBuffer qo = q.writableFloatBuffer();
    FloatBuffer ko = k.writableFloatBuffer();
    FloatBuffer vo = v.writableFloatBuffer();
    FloatBuffer cb = cos.asFloatBuffer();
    FloatBuffer sb = sin.asFloatBuffer();
    float[] row = Scratch.arrayFloat(5, dh);
    float[] c = Scratch.arrayFloat(6, half);
    float[] s = Scratch.arrayFloat(7, half);
    for (int gi = g0; gi < g1; gi++) {
      int bi = gi / kvHeads;
      int g = gi % kvHeads;
      // gather and rotate the group's query heads, its key head; gather its value head
      for (int ti = 0; ti < t; ti++) {
        int pos = positions[bi * t + ti];
        cb.get(pos * half, c, 0, half);
        sb.get(pos * half, s, 0, half);
        int src = bi * t + ti;
        for (int hr = 0; hr < rep; hr++) {
          int h = g * rep + hr;
          qs.get(src * qd + h * dh, row, 0, dh);
          rotate(row, c, s, half, ONE);
          qo.put(((bi * heads + h) * t + ti) * dh, row, 0, dh);
        }
        ks.get(src * kvd + g * dh, row, 0, dh);
        rotate(row, c, s, half, ONE);
        ko.put((gi * t + ti) * dh, row, 0, dh);
        vo.put((gi * t + ti) * dh, vs, src * kvd + g * dh, dh);
      }
      Tensor scores = matrix(att, gi, rt, t);
      Blas.gemm(matrix(q, gi, rt, dh), matrix(k, gi, t, dh), scores, false, true); // [rep*T, T]
      // the masked causal softmax of the group's rep heads (one sequence: its row of the key mask)
      FloatAttentionKernels.INSTANCE.causalSoftmax(
          att.reshape((long) b * kvHeads, rt, t).rows(gi, gi + 1), java.util.Arrays.copyOfRange(keyMask, bi * t, bi * t + t), 1, rep, t, scale);
      Blas.gemm(scores, matrix(v, gi, t, dh), matrix(yh, gi, rt, dh), false, false); // [rep*T, dh]
      FloatBuffer yb = yh.asFloatBuffer();
      FloatBuffer yo = y.writableFloatBuffer();
      for (int hr = 0; hr < rep; hr++) {
        int h = g * rep + hr;
        for (int ti = 0; ti < t; ti++) {
          yo.put((bi * t + ti) * qd + h * dh, yb, ((bi * heads + h) * t + ti) * dh, dh);
        }
      }
    }
  }

  @Override
  public void attentionBackward(
      Tensor dY, Tensor cos, Tensor sin, int[] positions, Tensor q, Tensor k, Tensor v, Tensor att, Tensor dyh, Tensor dAtt,
      Tensor dq, Tensor dk, Tensor dv, Tensor dq2, Tensor dk2, Tensor dv2, int b, int t, int heads, int kvHeads, int dh, double scale,
      int g0, int g1) {
    int rep = heads / kvHeads;
    int qd = heads * dh;
    int kvd = kvHeads * dh;
    int half = dh / 2;
    long rt = (long) rep * t;
    FloatBuffer dyb = dY.asFloatBuffer();
    FloatBuffer dyo = dyh.writableFloatBuffer();
    FloatBuffer cb = cos.asFloatBuffer();
    FloatBuffer sb = sin.asFloatBuffer();
    float[] p = Scratch.arrayFloat(5, dh);
    float[] c = Scratch.arrayFloat(6, half);
    float[] s = Scratch.arrayFloat(7, half);
    for (int gi = g0; gi < g1; gi++) {
      int bi = gi / kvHeads;
      int g = gi % kvHeads;
      for (int hr = 0; hr < rep; hr++) {
        int h = g * rep + hr;
        for (int ti = 0; ti < t; ti++) {
          dyo.put(((bi * heads + h) * t + ti) * dh, dyb, (bi * t + ti) * qd + h * dh, dh);
        }
      }
      Tensor dyg = matrix(dyh, gi, rt, dh);
      Tensor probs = matrix(att, gi, rt, t);
      Tensor dS = matrix(dAtt, gi, rt, t);
      Blas.gemm(dyg, matrix(v, gi, t, dh), dS, false, true); // dP = dY V^T [rep*T, T]
      Blas.gemm(probs, dyg, matrix(dv, gi, t, dh), true, false); // dV = P^T dY [T, dh]
      FloatAttentionKernels.INSTANCE.causalSoftmaxBackward( // dS = scale * P * (dP - rowsum(P * dP))
          att.reshape((long) b * kvHeads, rt, t).rows(gi, gi + 1), dAtt.reshape((long) b * kvHeads, rt, t).rows(gi, gi + 1), 1, rep, t, scale);
      Blas.gemm(dS, matrix(k, gi, t, dh), matrix(dq, gi, rt, dh), false, false); // dQ = dS K
      Blas.gemm(dS, matrix(q, gi, rt, dh), matrix(dk, gi, t, dh), true, false); // dK = dS^T Q
      // undo the rotations and scatter into the projections' gradients
      FloatBuffer dqb = dq.asFloatBuffer();
      FloatBuffer dkb = dk.asFloatBuffer();
      FloatBuffer dvb = dv.asFloatBuffer();
      FloatBuffer dqo = dq2.writableFloatBuffer();
      FloatBuffer dko = dk2.writableFloatBuffer();
      FloatBuffer dvo = dv2.writableFloatBuffer();
      for (int ti = 0; ti < t; ti++) {
        int pos = positions[bi * t + ti];
        cb.get(pos * half, c, 0, half);
        sb.get(pos * half, s, 0, half);
        int dst = bi * t + ti;
        for (int hr = 0; hr < rep; hr++) {
          int h = g * rep + hr;
          dqb.get(((bi * heads + h) * t + ti) * dh, p, 0, dh);
          rotate(p, c, s, half, -ONE);
          dqo.put(dst * qd + h * dh, p, 0, dh);
        }
        dkb.get((gi * t + ti) * dh, p, 0, dh);
        rotate(p, c, s, half, -ONE);
        dko.put(dst * kvd + g * dh, p, 0, dh);
        dvo.put(dst * kvd + g * dh, dvb, (gi * t + ti) * dh, dh);
      }
    }
  }
}
