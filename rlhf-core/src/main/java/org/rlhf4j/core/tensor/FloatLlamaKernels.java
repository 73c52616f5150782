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

  /**
   * Writes to {@code dst[dOff, dOff + 2*half)} the rotation of {@code src[sOff, sOff + 2*half)}: {@code
   * (x[i], x[i+half])} by the angle of {@code (cs[i], sign * cs[half + i])} (cosines, then sines).
   */
  private static void rotate(float[] src, int sOff, float[] dst, int dOff, float[] cs, int half, float sign) {
    for (int i = 0; i < half; i++) {
      float x1 = src[sOff + i];
      float x2 = src[sOff + i + half];
      float c = cs[i];
      float si = sign * cs[half + i];
      dst[dOff + i] = x1 * c - x2 * si;
      dst[dOff + i + half] = x2 * c + x1 * si;
    }
  }

  /**
   * In place: the backward pass of {@link FloatAttentionKernels#causalSoftmaxRows} over the block of
   * {@code att} at {@code attBase}, {@code dP} in the block of {@code dAtt} at {@code dBase} becomes
   * {@code dS = scale * P * (dP - rowsum(P * dP))} (0 above the diagonal).
   */
  private static void groupSoftmaxBackward(Tensor att, int attBase, Tensor dAtt, int dBase, int rows, int t, float scale) {
    FloatBuffer pb = att.asFloatBuffer();
    FloatBuffer gb = dAtt.writableFloatBuffer();
    float[] p = Scratch.arrayFloat(0, rows * t);
    float[] g = Scratch.arrayFloat(1, rows * t);
    pb.get(attBase, p, 0, rows * t);
    gb.get(dBase, g, 0, rows * t);
    for (int r = 0; r < rows; r++) {
      int off = r * t;
      int len = r % t + 1;
      float fd = FloatNormKernels.dot(p, g, off, len);
      for (int j = off; j < off + len; j++) {
        g[j] = scale * p[j] * (g[j] - fd);
      }
      java.util.Arrays.fill(g, off + len, off + t, (float) 0);
    }
    gb.put(dBase, g, 0, rows * t);
  }

  /** Matrix {@code i} of a batch of {@code rows x cols} matrices stored one after another. */
  private static Tensor matrix(Tensor batch, int i, long rows, long cols) {
    return batch.reshape(batch.length() / (rows * cols), rows, cols).rows(i, i + 1).reshape(rows, cols);
  }

  @Override
  public void attentionForward(
      Tensor q2, Tensor k2, Tensor v2, Tensor cos, Tensor sin, int[] positions, int[] keyMask, Tensor q, Tensor k, Tensor v,
      Tensor att, Tensor yh, Tensor y, int b, int t, int heads, int kvHeads, int dh, double scale, int g0, int g1, int block) {
    int rep = heads / kvHeads;
    int qd = heads * dh;
    int kvd = kvHeads * dh;
    int half = dh / 2;
    int gw = rep * dh; // the group's query columns
    long rt = (long) rep * t;
    FloatBuffer qs = q2.asFloatBuffer();
    FloatBuffer ks = k2.asFloatBuffer();
    FloatBuffer vs = v2.asFloatBuffer();
    FloatBuffer qo = q.writableFloatBuffer();
    FloatBuffer ko = k.writableFloatBuffer();
    FloatBuffer vo = v.writableFloatBuffer();
    FloatBuffer cb = cos.asFloatBuffer();
    FloatBuffer sb = sin.asFloatBuffer();
    for (int gi = g0; gi < g1; gi++) {
      int bi = gi / kvHeads;
      int g = gi % kvHeads;
      // gather and rotate the group's query heads and key head, gather its value head: [rep*T, dh], [T, dh]
      float[] qBlk = Scratch.arrayFloat(0, rep * t * dh);
      float[] kBlk = Scratch.arrayFloat(1, t * dh);
      float[] vBlk = Scratch.arrayFloat(2, t * dh);
      float[] row = Scratch.arrayFloat(3, gw);
      float[] cs = Scratch.arrayFloat(4, dh);
      for (int ti = 0; ti < t; ti++) {
        int pos = positions[bi * t + ti];
        cb.get(pos * half, cs, 0, half);
        sb.get(pos * half, cs, half, half);
        int src = bi * t + ti;
        qs.get(src * qd + g * gw, row, 0, gw);
        for (int hr = 0; hr < rep; hr++) {
          rotate(row, hr * dh, qBlk, (hr * t + ti) * dh, cs, half, ONE);
        }
        ks.get(src * kvd + g * dh, row, 0, dh);
        rotate(row, 0, kBlk, ti * dh, cs, half, ONE);
        vs.get(src * kvd + g * dh, vBlk, ti * dh, dh);
      }
      qo.put(gi * rep * t * dh, qBlk, 0, rep * t * dh);
      ko.put(gi * t * dh, kBlk, 0, t * dh);
      vo.put(gi * t * dh, vBlk, 0, t * dh);
      Tensor scores = matrix(att, gi, rt, t);
      Blas.gemm(matrix(q, gi, rt, dh), matrix(k, gi, t, dh), scores, false, true); // [rep*T, T]
      FloatAttentionKernels.causalSoftmaxRows(att, (int) (gi * rt * t), (int) rt, t, keyMask, bi * t, (float) scale);
      Blas.gemm(scores, matrix(v, gi, t, dh), matrix(yh, block, rt, dh), false, false); // [rep*T, dh]
      // merge: the group's heads are adjacent columns of y
      float[] yBlk = Scratch.arrayFloat(0, rep * t * dh);
      float[] out = Scratch.arrayFloat(3, gw);
      yh.asFloatBuffer().get(block * rep * t * dh, yBlk, 0, rep * t * dh);
      FloatBuffer yo = y.writableFloatBuffer();
      for (int ti = 0; ti < t; ti++) {
        for (int hr = 0; hr < rep; hr++) {
          System.arraycopy(yBlk, (hr * t + ti) * dh, out, hr * dh, dh);
        }
        yo.put((bi * t + ti) * qd + g * gw, out, 0, gw);
      }
    }
  }

  @Override
  public void attentionBackward(
      Tensor dY, Tensor cos, Tensor sin, int[] positions, Tensor q, Tensor k, Tensor v, Tensor att, Tensor dyh, Tensor dAtt,
      Tensor dq, Tensor dk, Tensor dv, Tensor dq2, Tensor dk2, Tensor dv2, int b, int t, int heads, int kvHeads, int dh, double scale,
      int g0, int g1, int block) {
    int rep = heads / kvHeads;
    int qd = heads * dh;
    int kvd = kvHeads * dh;
    int half = dh / 2;
    int gw = rep * dh;
    long rt = (long) rep * t;
    FloatBuffer dyb = dY.asFloatBuffer();
    FloatBuffer cb = cos.asFloatBuffer();
    FloatBuffer sb = sin.asFloatBuffer();
    for (int gi = g0; gi < g1; gi++) {
      int bi = gi / kvHeads;
      int g = gi % kvHeads;
      float[] blk = Scratch.arrayFloat(0, rep * t * dh);
      float[] row = Scratch.arrayFloat(3, gw);
      for (int ti = 0; ti < t; ti++) {
        dyb.get((bi * t + ti) * qd + g * gw, row, 0, gw);
        for (int hr = 0; hr < rep; hr++) {
          System.arraycopy(row, hr * dh, blk, (hr * t + ti) * dh, dh);
        }
      }
      dyh.writableFloatBuffer().put(block * rep * t * dh, blk, 0, rep * t * dh);
      Tensor dyg = matrix(dyh, block, rt, dh);
      Tensor probs = matrix(att, gi, rt, t);
      Tensor dS = matrix(dAtt, block, rt, t);
      Blas.gemm(dyg, matrix(v, gi, t, dh), dS, false, true); // dP = dY V^T [rep*T, T]
      Blas.gemm(probs, dyg, matrix(dv, block, t, dh), true, false); // dV = P^T dY [T, dh]
      // dS = scale * P * (dP - rowsum(P * dP))
      groupSoftmaxBackward(att, (int) (gi * rt * t), dAtt, (int) (block * rt * t), (int) rt, t, (float) scale);
      Blas.gemm(dS, matrix(k, gi, t, dh), matrix(dq, block, rt, dh), false, false); // dQ = dS K
      Blas.gemm(dS, matrix(q, gi, rt, dh), matrix(dk, block, t, dh), true, false); // dK = dS^T Q
      // undo the rotations and scatter into the projections' gradients
      float[] dqBlk = Scratch.arrayFloat(0, rep * t * dh);
      float[] dkBlk = Scratch.arrayFloat(1, t * dh);
      float[] dvBlk = Scratch.arrayFloat(2, t * dh);
      float[] out = Scratch.arrayFloat(3, gw);
      float[] cs = Scratch.arrayFloat(4, dh);
      dq.asFloatBuffer().get(block * rep * t * dh, dqBlk, 0, rep * t * dh);
      dk.asFloatBuffer().get(block * t * dh, dkBlk, 0, t * dh);
      dv.asFloatBuffer().get(block * t * dh, dvBlk, 0, t * dh);
      FloatBuffer dqo = dq2.writableFloatBuffer();
      FloatBuffer dko = dk2.writableFloatBuffer();
      FloatBuffer dvo = dv2.writableFloatBuffer();
      for (int ti = 0; ti < t; ti++) {
        int pos = positions[bi * t + ti];
        cb.get(pos * half, cs, 0, half);
        sb.get(pos * half, cs, half, half);
        int dst = bi * t + ti;
        for (int hr = 0; hr < rep; hr++) {
          rotate(dqBlk, (hr * t + ti) * dh, out, hr * dh, cs, half, -ONE);
        }
        dqo.put(dst * qd + g * gw, out, 0, gw);
        rotate(dkBlk, ti * dh, out, 0, cs, half, -ONE);
        dko.put(dst * kvd + g * dh, out, 0, dh);
        dvo.put(dst * kvd + g * dh, dvBlk, ti * dh, dh);
      }
    }
  }
}
