package org.rlhf4j.core.tensor;

import java.nio.FloatBuffer;

/**
 * The float implementation of {@link HeadKernels} (the double one is generated from this file).
 * Rows of logits are copied into per-thread arrays in bulk and computed there.
 */
final class FloatHeadKernels implements HeadKernels {
  static final FloatHeadKernels INSTANCE = new FloatHeadKernels();

  private FloatHeadKernels() {}

  @Override
  public void tokenLogProbs(Tensor logits, int[] ids, double invTemperature, Tensor logp, Tensor entropy, Tensor lse, int t, int vocab, int from, int to) {
    FloatBuffer zb = logits.asFloatBuffer();
    FloatBuffer lp = logp.writableFloatBuffer();
    FloatBuffer ent = entropy.writableFloatBuffer();
    FloatBuffer ls = lse.writableFloatBuffer();
    float[] z = Scratch.arrayFloat(0, vocab);
    float[] e = Scratch.arrayFloat(1, vocab);
    float[] tmp = Scratch.arrayFloat(2, vocab);
    float inv = (float) invTemperature;
    for (int r = from; r < to; r++) {
      int bi = r / t;
      int ti = r % t;
      if (ti == t - 1) {
        continue; // the last position scores no next token
      }
      zb.get(r * vocab, z, 0, vocab);
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < vocab; j++) {
        z[j] *= inv;
      }
      for (int j = 0; j < vocab; j++) { // a comparison, not Math.max (whose NaN rules keep the loop scalar)
        max = z[j] > max ? z[j] : max;
      }
      for (int j = 0; j < vocab; j++) {
        e[j] = z[j] - max;
      }
      KernelMath.exp(e, tmp, vocab); // the whole row at once (vectorised)
      // four independent accumulators of each sum (one chain of dependent double additions is latency-bound)
      double s0 = 0;
      double s1 = 0;
      double s2 = 0;
      double s3 = 0;
      double q0 = 0;
      double q1 = 0;
      double q2 = 0;
      double q3 = 0;
      int j = 0;
      for (; j + 3 < vocab; j += 4) {
        s0 += e[j];
        s1 += e[j + 1];
        s2 += e[j + 2];
        s3 += e[j + 3];
        q0 += e[j] * (z[j] - max);
        q1 += e[j + 1] * (z[j + 1] - max);
        q2 += e[j + 2] * (z[j + 2] - max);
        q3 += e[j + 3] * (z[j + 3] - max);
      }
      for (; j < vocab; j++) {
        s0 += e[j];
        q0 += e[j] * (z[j] - max);
      }
      double sum = (s0 + s1) + (s2 + s3);
      double sumEz = (q0 + q1) + (q2 + q3);
      double logZ = Math.log(sum); // relative to max
      int out = bi * (t - 1) + ti;
      int target = ids[bi * t + ti + 1];
      lp.put(out, (float) (z[target] - max - logZ));
      ent.put(out, (float) (logZ - sumEz / sum));
      ls.put(out, (float) (max + logZ));
    }
  }

  @Override
  public void tokenLogProbsBackward(Tensor logits, int[] ids, double invTemperature, Tensor lse, Tensor entropy, Tensor gLogp, Tensor gEntropy, Tensor dLogits, int t, int vocab, int from, int to) {
    FloatBuffer zb = logits.asFloatBuffer();
    FloatBuffer ls = lse.asFloatBuffer();
    FloatBuffer ent = entropy.asFloatBuffer();
    FloatBuffer gl = gLogp == null ? null : gLogp.asFloatBuffer();
    FloatBuffer ge = gEntropy == null ? null : gEntropy.asFloatBuffer();
    FloatBuffer dz = dLogits.writableFloatBuffer();
    float[] z = Scratch.arrayFloat(0, vocab);
    float[] p = Scratch.arrayFloat(1, vocab);
    float[] tmp = Scratch.arrayFloat(2, vocab);
    float inv = (float) invTemperature;
    for (int r = from; r < to; r++) {
      int bi = r / t;
      int ti = r % t;
      int row = r * vocab;
      int out = bi * (t - 1) + ti;
      float gLp = ti < t - 1 && gl != null ? gl.get(out) : 0;
      float gEnt = ti < t - 1 && ge != null ? ge.get(out) : 0;
      if (gLp == 0 && gEnt == 0) {
        java.util.Arrays.fill(z, 0, vocab, (float) 0);
        dz.put(row, z, 0, vocab);
        continue;
      }
      zb.get(row, z, 0, vocab);
      float logZ = ls.get(out);
      float h = ent.get(out);
      // d logp_y / dz_j = [j == y] - p_j ;  d H / dz_j = -p_j (log p_j + H) ; dlogits = dz / T
      for (int j = 0; j < vocab; j++) {
        z[j] = z[j] * inv - logZ; // log p_j
        p[j] = z[j];
      }
      KernelMath.exp(p, tmp, vocab); // the whole row at once (vectorised)
      for (int j = 0; j < vocab; j++) {
        z[j] = (-gLp * p[j] - gEnt * p[j] * (z[j] + h)) * inv;
      }
      z[ids[bi * t + ti + 1]] += gLp * inv;
      dz.put(row, z, 0, vocab);
    }
  }
}
