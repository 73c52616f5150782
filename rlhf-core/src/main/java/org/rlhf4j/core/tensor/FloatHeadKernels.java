package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/** The float implementation of {@link HeadKernels} (the double one is generated from this file). */
final class FloatHeadKernels implements HeadKernels {
  static final FloatHeadKernels INSTANCE = new FloatHeadKernels();

  private FloatHeadKernels() {}

  @Override
  public void tokenLogProbs(Tensor logits, int[] ids, double invTemperature, Tensor logp, Tensor entropy, Tensor lse, int b, int t, int vocab) {
    FloatBuffer z = logits.asFloatBuffer();
    FloatBuffer lp = logp.writableFloatBuffer();
    FloatBuffer ent = entropy.writableFloatBuffer();
    FloatBuffer ls = lse.writableFloatBuffer();
    for (int bi = 0; bi < b; bi++) {
      for (int ti = 0; ti < t - 1; ti++) {
        int row = (bi * t + ti) * vocab;
        int out = bi * (t - 1) + ti;
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < vocab; j++) {
          max = Math.max(max, z.get(row + j) * invTemperature);
        }
        double sum = 0;
        double sumEz = 0;
        for (int j = 0; j < vocab; j++) {
          double zj = z.get(row + j) * invTemperature;
          double e = Math.exp(zj - max);
          sum += e;
          sumEz += e * zj;
        }
        double logZ = max + Math.log(sum);
        int target = ids[bi * t + ti + 1];
        lp.put(out, (float) (z.get(row + target) * invTemperature - logZ));
        ent.put(out, (float) (logZ - sumEz / sum));
        ls.put(out, (float) logZ);
      }
    }
  }

  @Override
  public void tokenLogProbsBackward(Tensor logits, int[] ids, double invTemperature, Tensor lse, Tensor entropy, Tensor gLogp, Tensor gEntropy, Tensor dLogits, int b, int t, int vocab) {
    FloatBuffer z = logits.asFloatBuffer();
    FloatBuffer ls = lse.asFloatBuffer();
    FloatBuffer ent = entropy.asFloatBuffer();
    FloatBuffer gl = gLogp == null ? null : gLogp.asFloatBuffer();
    FloatBuffer ge = gEntropy == null ? null : gEntropy.asFloatBuffer();
    FloatBuffer dz = dLogits.writableFloatBuffer();
    for (int bi = 0; bi < b; bi++) {
      for (int ti = 0; ti < t; ti++) {
        int row = (bi * t + ti) * vocab;
        int out = bi * (t - 1) + ti;
        double gLp = ti < t - 1 && gl != null ? gl.get(out) : 0;
        double gEnt = ti < t - 1 && ge != null ? ge.get(out) : 0;
        if (gLp == 0 && gEnt == 0) {
          for (int j = 0; j < vocab; j++) {
            dz.put(row + j, (float) 0);
          }
          continue;
        }
        double logZ = ls.get(out);
        double h = ent.get(out);
        int target = ids[bi * t + ti + 1];
        for (int j = 0; j < vocab; j++) {
          double logP = z.get(row + j) * invTemperature - logZ;
          double p = Math.exp(logP);
          // d logp_y / dz_j = [j == y] - p_j ;  d H / dz_j = -p_j (log p_j + H)
          double g = -gLp * p - gEnt * p * (logP + h);
          if (j == target) {
            g += gLp;
          }
          dz.put(row + j, (float) (g * invTemperature));
        }
      }
    }
  }
}
