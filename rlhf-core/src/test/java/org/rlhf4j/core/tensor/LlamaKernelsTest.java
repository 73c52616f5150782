package org.rlhf4j.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The Llama kernels that the model threads itself against plain double references written out here:
 * the fused grouped-query attention forward and backward ({@link LlamaKernels#attentionForward},
 * {@link LlamaKernels#attentionBackward}: gather, rotary positions, masked causal softmax, products,
 * merge; for float and double, over group ranges as the model splits them across threads, with a
 * left-padded sequence whose first query rows see no key), the SiLU gate and its backward, and the
 * RMSNorm backward without a gain gradient (frozen base).
 */
class LlamaKernelsTest {
  private static final int B = 2;
  private static final int T = 7;
  private static final int H = 6;
  private static final int KV = 2;
  private static final int DH = 4;
  private static final int REP = H / KV;

  /** Inputs shared by the forward and backward checks. */
  private static final class Case {
    final Random rnd = new Random(11);
    final double[] q2 = randoms(B * T * H * DH);
    final double[] k2 = randoms(B * T * KV * DH);
    final double[] v2 = randoms(B * T * KV * DH);
    final double[] dY = randoms(B * T * H * DH);
    final int[] mask = new int[B * T];
    final int[] positions = new int[B * T];
    final double[] cos = new double[T * DH / 2];
    final double[] sin = new double[T * DH / 2];
    final double scale = 1 / Math.sqrt(DH);

    Case() {
      // row 0: left-padded by 3 (its first query rows see no key); row 1: a padded key in the middle
      for (int bi = 0; bi < B; bi++) {
        int seen = 0;
        for (int ti = 0; ti < T; ti++) {
          int m = bi == 0 ? (ti >= 3 ? 1 : 0) : (ti == 4 ? 0 : 1);
          mask[bi * T + ti] = m;
          seen += m;
          positions[bi * T + ti] = Math.max(0, seen - 1);
        }
      }
      for (int p = 0; p < T; p++) {
        for (int i = 0; i < DH / 2; i++) {
          double angle = p * Math.pow(10000, -2.0 * i / DH);
          cos[p * DH / 2 + i] = Math.cos(angle);
          sin[p * DH / 2 + i] = Math.sin(angle);
        }
      }
    }

    double[] randoms(int n) {
      double[] x = new double[n];
      for (int i = 0; i < n; i++) {
        x[i] = rnd.nextGaussian();
      }
      return x;
    }
  }

  /** The plain reference: rotated heads, probabilities, output and the three projection gradients. */
  private static final class Reference {
    final double[][][] qr = new double[B * H][T][DH];
    final double[][][] kr = new double[B * KV][T][DH];
    final double[][][] p = new double[B * H][T][T];
    final double[] y = new double[B * T * H * DH];
    final double[] dq2 = new double[B * T * H * DH];
    final double[] dk2 = new double[B * T * KV * DH];
    final double[] dv2 = new double[B * T * KV * DH];

    Reference(Case c) {
      for (int bi = 0; bi < B; bi++) {
        for (int ti = 0; ti < T; ti++) {
          int pos = c.positions[bi * T + ti];
          for (int h = 0; h < H; h++) {
            qr[bi * H + h][ti] = rotate(c.q2, (bi * T + ti) * H * DH + h * DH, c, pos, 1);
          }
          for (int g = 0; g < KV; g++) {
            kr[bi * KV + g][ti] = rotate(c.k2, (bi * T + ti) * KV * DH + g * DH, c, pos, 1);
          }
        }
      }
      double[][][] dkr = new double[B * KV][T][DH];
      for (int bi = 0; bi < B; bi++) {
        for (int h = 0; h < H; h++) {
          int g = h / REP;
          int bh = bi * H + h;
          int bg = bi * KV + g;
          for (int i = 0; i < T; i++) {
            double max = Double.NEGATIVE_INFINITY;
            double[] s = new double[T];
            for (int j = 0; j <= i; j++) {
              if (c.mask[bi * T + j] != 0) {
                for (int e = 0; e < DH; e++) {
                  s[j] += qr[bh][i][e] * kr[bg][j][e];
                }
                s[j] *= c.scale;
                max = Math.max(max, s[j]);
              }
            }
            double z = 0;
            for (int j = 0; j <= i; j++) {
              if (c.mask[bi * T + j] != 0) {
                p[bh][i][j] = Math.exp(s[j] - max);
                z += p[bh][i][j];
              }
            }
            for (int j = 0; j <= i && z > 0; j++) {
              p[bh][i][j] /= z;
            }
            // forward output and backward through this row
            double[] dy = new double[DH];
            for (int e = 0; e < DH; e++) {
              double acc = 0;
              for (int j = 0; j <= i; j++) {
                acc += p[bh][i][j] * c.v2[(bi * T + j) * KV * DH + g * DH + e];
              }
              y[(bi * T + i) * H * DH + h * DH + e] = acc;
              dy[e] = c.dY[(bi * T + i) * H * DH + h * DH + e];
            }
            double[] dp = new double[T];
            double dot = 0;
            for (int j = 0; j <= i; j++) {
              for (int e = 0; e < DH; e++) {
                dp[j] += dy[e] * c.v2[(bi * T + j) * KV * DH + g * DH + e];
                dv2[(bi * T + j) * KV * DH + g * DH + e] += p[bh][i][j] * dy[e];
              }
              dot += p[bh][i][j] * dp[j];
            }
            double[] dqr = new double[DH];
            for (int j = 0; j <= i; j++) {
              double ds = c.scale * p[bh][i][j] * (dp[j] - dot);
              for (int e = 0; e < DH; e++) {
                dqr[e] += ds * kr[bg][j][e];
                dkr[bg][j][e] += ds * qr[bh][i][e];
              }
            }
            double[] dq = rotate(dqr, 0, c, c.positions[bi * T + i], -1);
            System.arraycopy(dq, 0, dq2, (bi * T + i) * H * DH + h * DH, DH);
          }
        }
      }
      for (int bi = 0; bi < B; bi++) {
        for (int g = 0; g < KV; g++) {
          for (int j = 0; j < T; j++) {
            double[] dk = rotate(dkr[bi * KV + g][j], 0, c, c.positions[bi * T + j], -1);
            System.arraycopy(dk, 0, dk2, (bi * T + j) * KV * DH + g * DH, DH);
          }
        }
      }
    }

    /** Hugging Face's rotate_half rotation of x[off, off+DH) by the angles of position pos (sign -1: back). */
    static double[] rotate(double[] x, int off, Case c, int pos, int sign) {
      double[] out = new double[DH];
      int half = DH / 2;
      for (int i = 0; i < half; i++) {
        double co = c.cos[pos * half + i];
        double si = sign * c.sin[pos * half + i];
        out[i] = x[off + i] * co - x[off + i + half] * si;
        out[i + half] = x[off + i + half] * co + x[off + i] * si;
      }
      return out;
    }
  }

  private static Tensor tensor(DataType type, double[] values, long... shape) {
    return Tensor.of(Nd4j.createFromArray(values).castTo(type).reshape(shape).dup('c'));
  }

  private static Tensor zeros(DataType type, long... shape) {
    return Tensor.of(Nd4j.create(type, shape));
  }

  @Test
  void floatAttentionMatchesThePlainReference() {
    checkAttention(DataType.FLOAT, 2e-5);
  }

  @Test
  void doubleAttentionMatchesThePlainReference() {
    checkAttention(DataType.DOUBLE, 1e-12);
  }

  private static void checkAttention(DataType type, double tol) {
    Case c = new Case();
    Reference ref = new Reference(c);
    LlamaKernels lk = LlamaKernels.of(type);
    int n = B * T;
    Tensor q2 = tensor(type, c.q2, n, H * DH);
    Tensor k2 = tensor(type, c.k2, n, KV * DH);
    Tensor v2 = tensor(type, c.v2, n, KV * DH);
    Tensor cos = tensor(type, c.cos, T, DH / 2);
    Tensor sin = tensor(type, c.sin, T, DH / 2);
    Tensor q = zeros(type, B * H, T, DH);
    Tensor k = zeros(type, B * KV, T, DH);
    Tensor v = zeros(type, B * KV, T, DH);
    Tensor att = zeros(type, B * H, T, T);
    // the groups in three ranges, as the model splits them over threads, each with its block of the scratch
    int groups = B * KV;
    int[] edges = {0, 1, 3, groups};
    int blocks = edges.length - 1;
    int rep = H / KV;
    Tensor yh = zeros(type, blocks * rep, T, DH);
    Tensor y = zeros(type, n, H * DH);
    for (int part = 0; part + 1 < edges.length; part++) {
      lk.attentionForward(q2, k2, v2, cos, sin, c.positions, c.mask, q, k, v, att, yh, y, B, T, H, KV, DH, c.scale, edges[part], edges[part + 1], part);
    }
    for (int bh = 0; bh < B * H; bh++) {
      for (int i = 0; i < T; i++) {
        for (int j = 0; j < T; j++) {
          assertEquals(ref.p[bh][i][j], att.get((bh * T + i) * T + j), tol, "probability " + bh + "," + i + "," + j);
        }
        for (int e = 0; e < DH; e++) {
          assertEquals(ref.qr[bh][i][e], q.get((bh * T + i) * DH + e), tol, "rotated query");
        }
      }
    }
    for (int bg = 0; bg < B * KV; bg++) {
      for (int j = 0; j < T; j++) {
        for (int e = 0; e < DH; e++) {
          assertEquals(ref.kr[bg][j][e], k.get((bg * T + j) * DH + e), tol, "rotated key");
        }
      }
    }
    // row 0's first three query positions see no key: all-zero probabilities and output
    assertEquals(0.0, att.get(0), 0.0);
    assertArrayClose(ref.y, y, tol, "output");

    Tensor dY = tensor(type, c.dY, n, H * DH);
    Tensor dq2 = zeros(type, n, H * DH);
    Tensor dk2 = zeros(type, n, KV * DH);
    Tensor dv2 = zeros(type, n, KV * DH);
    Tensor dyh = zeros(type, blocks * rep, T, DH);
    Tensor dAtt = zeros(type, blocks * rep, T, T);
    Tensor dq = zeros(type, blocks * rep, T, DH);
    Tensor dk = zeros(type, blocks, T, DH);
    Tensor dv = zeros(type, blocks, T, DH);
    for (int part = 0; part + 1 < edges.length; part++) {
      lk.attentionBackward(dY, cos, sin, c.positions, q, k, v, att, dyh, dAtt, dq, dk, dv, dq2, dk2, dv2, B, T, H, KV, DH, c.scale, edges[part], edges[part + 1], part);
    }
    assertArrayClose(ref.dq2, dq2, tol, "query gradient");
    assertArrayClose(ref.dk2, dk2, tol, "key gradient");
    assertArrayClose(ref.dv2, dv2, tol, "value gradient");
  }

  private static void assertArrayClose(double[] expected, Tensor actual, double tol, String what) {
    double max = 0;
    for (double e : expected) {
      max = Math.max(max, Math.abs(e));
    }
    assertTrue(max > 0, what + " is all zero");
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual.get(i), tol * Math.max(1, max), what + " [" + i + "]");
    }
  }

  @Test
  void siluGateAndItsBackwardMatchThePlainFormulas() {
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      double tol = type == DataType.FLOAT ? 1e-5 : 1e-13;
      Random rnd = new Random(5);
      int count = 5000; // more than one chunk of the kernel
      double[] g = new double[count];
      double[] u = new double[count];
      double[] da = new double[count];
      for (int i = 0; i < count; i++) {
        g[i] = rnd.nextGaussian() * 6;
        u[i] = rnd.nextGaussian();
        da[i] = rnd.nextGaussian();
      }
      g[0] = 100; // saturated
      g[1] = -100;
      g[2] = 0;
      LlamaKernels lk = LlamaKernels.of(type);
      Tensor act = zeros(type, count);
      Tensor dGate = zeros(type, count);
      Tensor dUp = zeros(type, count);
      Tensor gt = tensor(type, g, count);
      Tensor ut = tensor(type, u, count);
      lk.siluGate(gt, ut, act, count);
      lk.siluGateBackward(tensor(type, da, count), gt, ut, dGate, dUp, count);
      for (int i = 0; i < count; i++) {
        double sig = 1 / (1 + Math.exp(-g[i]));
        assertEquals(g[i] * sig * u[i], act.get(i), tol * Math.max(1, Math.abs(g[i] * u[i])), "act " + i);
        assertEquals(da[i] * g[i] * sig, dUp.get(i), tol * Math.max(1, Math.abs(da[i] * g[i])), "dUp " + i);
        assertEquals(da[i] * u[i] * sig * (1 + g[i] * (1 - sig)), dGate.get(i), tol * Math.max(1, Math.abs(da[i] * u[i] * g[i])), "dGate " + i);
      }
    }
  }

  @Test
  void rmsNormBackwardWithoutGainGradientGivesTheSameInputGradient() {
    DataType type = DataType.DOUBLE;
    LlamaKernels lk = LlamaKernels.of(type);
    Random rnd = new Random(2);
    int n = 5;
    int d = 8;
    double[] x = new double[n * d];
    double[] dy = new double[n * d];
    double[] gamma = new double[d];
    for (int i = 0; i < x.length; i++) {
      x[i] = rnd.nextGaussian();
      dy[i] = rnd.nextGaussian();
    }
    for (int i = 0; i < d; i++) {
      gamma[i] = 1 + rnd.nextGaussian() * 0.3;
    }
    Tensor xt = tensor(type, x, n, d);
    Tensor out = zeros(type, n, d);
    Tensor rstd = zeros(type, n);
    lk.rmsNorm(xt, tensor(type, gamma, d), out, rstd, n, d, 1e-6);
    Tensor dxWith = zeros(type, n, d);
    Tensor dGamma = zeros(type, d);
    lk.rmsNormBackward(tensor(type, dy, n, d), xt, rstd, tensor(type, gamma, d), dxWith, dGamma, n, d);
    Tensor dxWithout = zeros(type, n, d);
    lk.rmsNormBackward(tensor(type, dy, n, d), xt, rstd, tensor(type, gamma, d), dxWithout, null, n, d);
    assertTrue(dGamma.array().amaxNumber().doubleValue() > 0);
    assertEquals(0.0, dxWith.array().sub(dxWithout.array()).amaxNumber().doubleValue(), 0.0);
  }
}
