package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/** The float implementation of {@link NormKernels} (the double one is generated from this file). */
final class FloatNormKernels implements NormKernels {
  static final FloatNormKernels INSTANCE = new FloatNormKernels();

  private FloatNormKernels() {}

  @Override
  public void layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor out, Tensor xhat, Tensor rstd, int n, int d, double eps) {
    FloatBuffer xb = x.asFloatBuffer();
    FloatBuffer g = gamma.asFloatBuffer();
    FloatBuffer b = beta.asFloatBuffer();
    FloatBuffer o = out.writableFloatBuffer();
    FloatBuffer h = xhat.writableFloatBuffer();
    FloatBuffer rs = rstd.writableFloatBuffer();
    for (int r = 0; r < n; r++) {
      int off = r * d;
      double sum = 0;
      for (int j = 0; j < d; j++) {
        sum += xb.get(off + j);
      }
      double mean = sum / d;
      double var = 0;
      for (int j = 0; j < d; j++) {
        double z = xb.get(off + j) - mean;
        var += z * z;
      }
      double inv = 1.0 / Math.sqrt(var / d + eps);
      rs.put(r, (float) inv);
      for (int j = 0; j < d; j++) {
        float hv = (float) ((xb.get(off + j) - mean) * inv);
        h.put(off + j, hv);
        o.put(off + j, hv * g.get(j) + b.get(j));
      }
    }
  }

  @Override
  public void layerNormBackward(Tensor dy, Tensor xhat, Tensor rstd, Tensor gamma, Tensor dx, Tensor dGamma, Tensor dBeta, int n, int d) {
    FloatBuffer dyb = dy.asFloatBuffer();
    FloatBuffer h = xhat.asFloatBuffer();
    FloatBuffer rs = rstd.asFloatBuffer();
    FloatBuffer g = gamma.asFloatBuffer();
    FloatBuffer dxb = dx.writableFloatBuffer();
    FloatBuffer dg = dGamma.writableFloatBuffer();
    FloatBuffer db = dBeta.writableFloatBuffer();
    for (int r = 0; r < n; r++) {
      int off = r * d;
      double meanG = 0;
      double meanGh = 0;
      for (int j = 0; j < d; j++) {
        float dyv = dyb.get(off + j);
        float hv = h.get(off + j);
        double gv = (double) dyv * g.get(j);
        meanG += gv;
        meanGh += gv * hv;
        dg.put(j, dg.get(j) + dyv * hv);
        db.put(j, db.get(j) + dyv);
      }
      meanG /= d;
      meanGh /= d;
      double inv = rs.get(r);
      for (int j = 0; j < d; j++) {
        double gv = (double) dyb.get(off + j) * g.get(j);
        dxb.put(off + j, (float) (dxb.get(off + j) + inv * (gv - meanG - h.get(off + j) * meanGh)));
      }
    }
  }

  @Override
  public void embed(int[] ids, int[] positions, Tensor wte, Tensor wpe, Tensor out, int n, int d) {
    FloatBuffer te = wte.asFloatBuffer();
    FloatBuffer pe = wpe.asFloatBuffer();
    FloatBuffer o = out.writableFloatBuffer();
    for (int r = 0; r < n; r++) {
      int ti = ids[r] * d;
      int pi = positions[r] * d;
      int off = r * d;
      for (int j = 0; j < d; j++) {
        o.put(off + j, te.get(ti + j) + pe.get(pi + j));
      }
    }
  }

  @Override
  public void embedBackward(int[] ids, int[] positions, Tensor dOut, Tensor dWte, Tensor dWpe, int n, int d) {
    FloatBuffer g = dOut.asFloatBuffer();
    FloatBuffer te = dWte.writableFloatBuffer();
    FloatBuffer pe = dWpe.writableFloatBuffer();
    for (int r = 0; r < n; r++) {
      int ti = ids[r] * d;
      int pi = positions[r] * d;
      int off = r * d;
      for (int j = 0; j < d; j++) {
        float gv = g.get(off + j);
        te.put(ti + j, te.get(ti + j) + gv);
        pe.put(pi + j, pe.get(pi + j) + gv);
      }
    }
  }
}
