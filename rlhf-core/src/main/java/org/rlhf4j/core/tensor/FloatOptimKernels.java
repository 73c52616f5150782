package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/** The float implementation of {@link OptimKernels} (the double one is generated from this file). */
final class FloatOptimKernels implements OptimKernels {
  static final FloatOptimKernels INSTANCE = new FloatOptimKernels();

  private FloatOptimKernels() {}

  @Override
  public double sumOfSquares(Tensor x) {
    FloatBuffer b = x.asFloatBuffer();
    int n = x.length();
    double s0 = 0;
    double s1 = 0;
    int i = 0;
    for (; i + 1 < n; i += 2) {
      double a = b.get(i);
      double c = b.get(i + 1);
      s0 += a * a;
      s1 += c * c;
    }
    if (i < n) {
      double a = b.get(i);
      s0 += a * a;
    }
    return s0 + s1;
  }

  @Override
  public void scale(Tensor x, double factor) {
    FloatBuffer b = x.writableFloatBuffer();
    int n = x.length();
    float f = (float) factor;
    for (int i = 0; i < n; i++) {
      b.put(i, b.get(i) * f);
    }
  }

  @Override
  public void adamW(Tensor p, Tensor g, Tensor m, Tensor v, int decayCount, double lr, double beta1, double beta2, double eps, double weightDecay, double bc1, double bc2) {
    FloatBuffer pb = p.writableFloatBuffer();
    FloatBuffer gb = g.asFloatBuffer();
    FloatBuffer mb = m.writableFloatBuffer();
    FloatBuffer vb = v.writableFloatBuffer();
    int n = p.length();
    double decay = 1.0 - lr * weightDecay;
    double stepSize = lr / bc1;
    double invBc2 = 1.0 / bc2;
    for (int i = 0; i < n; i++) {
      double gi = gb.get(i);
      double mi = beta1 * mb.get(i) + (1 - beta1) * gi;
      double vi = beta2 * vb.get(i) + (1 - beta2) * gi * gi;
      mb.put(i, (float) mi);
      vb.put(i, (float) vi);
      double pi = pb.get(i);
      if (i < decayCount) {
        pi *= decay;
      }
      pb.put(i, (float) (pi - stepSize * mi / (Math.sqrt(vi * invBc2) + eps)));
    }
  }
}
