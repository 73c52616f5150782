package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/** The float implementation of {@link PointwiseKernels} (the double one is generated from this file). */
final class FloatPointwiseKernels implements PointwiseKernels {
  static final FloatPointwiseKernels INSTANCE = new FloatPointwiseKernels();
  private static final double GELU_C = Math.sqrt(2.0 / Math.PI);
  private static final double GELU_A = 0.044715;

  private FloatPointwiseKernels() {}

  @Override
  public void biasGelu(Tensor pre, Tensor bias, Tensor tanh, Tensor act, int n, int cols) {
    FloatBuffer x = pre.writableFloatBuffer();
    FloatBuffer bb = bias.asFloatBuffer();
    FloatBuffer t = tanh.writableFloatBuffer();
    FloatBuffer a = act.writableFloatBuffer();
    for (int r = 0; r < n; r++) {
      int off = r * cols;
      for (int j = 0; j < cols; j++) {
        float xv = x.get(off + j) + bb.get(j);
        x.put(off + j, xv);
        double u = GELU_C * (xv + GELU_A * xv * xv * xv);
        // tanh(u) = 1 - 2 / (exp(2u) + 1): one exp, and exact limits +-1 for large |u|.
        double tv = 1.0 - 2.0 / (Math.exp(2.0 * u) + 1.0);
        t.put(off + j, (float) tv);
        a.put(off + j, (float) (0.5 * xv * (1.0 + tv)));
      }
    }
  }

  @Override
  public void geluBackward(Tensor dAct, Tensor pre, Tensor tanh, Tensor dPre, int count) {
    FloatBuffer g = dAct.asFloatBuffer();
    FloatBuffer x = pre.asFloatBuffer();
    FloatBuffer t = tanh.asFloatBuffer();
    FloatBuffer out = dPre.writableFloatBuffer();
    for (int i = 0; i < count; i++) {
      double xv = x.get(i);
      double tv = t.get(i);
      double du = GELU_C * (1.0 + 3.0 * GELU_A * xv * xv);
      double grad = 0.5 * (1.0 + tv) + 0.5 * xv * (1.0 - tv * tv) * du;
      out.put(i, (float) (g.get(i) * grad));
    }
  }

  @Override
  public void copyAddBias(Tensor src, Tensor bias, Tensor dst, int n, int cols) {
    FloatBuffer s = src.asFloatBuffer();
    FloatBuffer bb = bias.asFloatBuffer();
    FloatBuffer o = dst.writableFloatBuffer();
    for (int r = 0; r < n; r++) {
      int off = r * cols;
      for (int j = 0; j < cols; j++) {
        o.put(off + j, s.get(off + j) + bb.get(j));
      }
    }
  }

  @Override
  public void sumRows(Tensor dy, Tensor dBias, int n, int cols) {
    FloatBuffer g = dy.asFloatBuffer();
    FloatBuffer db = dBias.writableFloatBuffer();
    for (int r = 0; r < n; r++) {
      int off = r * cols;
      for (int j = 0; j < cols; j++) {
        db.put(j, db.get(j) + g.get(off + j));
      }
    }
  }

  @Override
  public void scalarHead(Tensor h, Tensor w, Tensor bias, Tensor out, int n, int d) {
    FloatBuffer hb = h.asFloatBuffer();
    FloatBuffer wb = w.asFloatBuffer();
    double b0 = bias.asFloatBuffer().get(0);
    FloatBuffer o = out.writableFloatBuffer();
    for (int r = 0; r < n; r++) {
      int off = r * d;
      double acc = b0;
      for (int j = 0; j < d; j++) {
        acc += (double) hb.get(off + j) * wb.get(j);
      }
      o.put(r, (float) acc);
    }
  }

  @Override
  public void scalarHeadBackward(Tensor dOut, Tensor h, Tensor w, Tensor dh, Tensor dw, Tensor dBias, int n, int d) {
    FloatBuffer g = dOut.asFloatBuffer();
    FloatBuffer hb = h.asFloatBuffer();
    FloatBuffer wb = w.asFloatBuffer();
    FloatBuffer dhb = dh.writableFloatBuffer();
    FloatBuffer dwb = dw.writableFloatBuffer();
    FloatBuffer dbb = dBias.writableFloatBuffer();
    double sum = 0;
    for (int r = 0; r < n; r++) {
      float gv = g.get(r);
      if (gv == 0) {
        continue;
      }
      sum += gv;
      int off = r * d;
      for (int j = 0; j < d; j++) {
        dhb.put(off + j, dhb.get(off + j) + gv * wb.get(j));
        dwb.put(j, dwb.get(j) + gv * hb.get(off + j));
      }
    }
    dbb.put(0, (float) (dbb.get(0) + sum));
  }
}
