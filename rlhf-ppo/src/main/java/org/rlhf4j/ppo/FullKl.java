package org.rlhf4j.ppo;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The exact per-token KL(p || q) = sum_v p(v) (log p(v) - log q(v)) between two models'
 * next-token distributions at a temperature, at each response position, clamped to {@code
 * [-KlEstimator.ESTIMATE_CLAMP, KlEstimator.ESTIMATE_CLAMP]} like the other estimators. A pure function.
 */
final class FullKl {
  private FullKl() {}

  /** {@code [B][N]} KLs from {@code [B, P+N, V]} logits of the policy and the reference. */
  static double[][] perToken(INDArray policyLogits, INDArray refLogits, int promptLength, int[] length, double temperature) {
    int b = (int) policyLogits.size(0);
    int n = (int) policyLogits.size(1) - promptLength;
    double[][] out = new double[b][n];
    for (int i = 0; i < b; i++) {
      for (int t = 0; t < length[i]; t++) {
        int pos = promptLength - 1 + t;
        double[] zp = policyLogits.get(NDArrayIndex.point(i), NDArrayIndex.point(pos), NDArrayIndex.all()).castTo(DataType.DOUBLE).toDoubleVector();
        double[] zq = refLogits.get(NDArrayIndex.point(i), NDArrayIndex.point(pos), NDArrayIndex.all()).castTo(DataType.DOUBLE).toDoubleVector();
        out[i][t] = KlEstimator.clampEstimate(kl(zp, zq, temperature));
      }
    }
    return out;
  }

  /** KL(softmax(zp / T) || softmax(zq / T)). */
  static double kl(double[] zp, double[] zq, double temperature) {
    double lp = logSumExp(zp, temperature);
    double lq = logSumExp(zq, temperature);
    double s = 0;
    for (int v = 0; v < zp.length; v++) {
      double logP = zp[v] / temperature - lp;
      double logQ = zq[v] / temperature - lq;
      s += Math.exp(logP) * (logP - logQ);
    }
    return s;
  }

  private static double logSumExp(double[] z, double temperature) {
    double max = Double.NEGATIVE_INFINITY;
    for (double v : z) {
      max = Math.max(max, v / temperature);
    }
    double s = 0;
    for (double v : z) {
      s += Math.exp(v / temperature - max);
    }
    return max + Math.log(s);
  }
}
