package org.rlhf4j.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The element-wise kernels against plain double references written out here: the array {@code exp}
 * of {@link KernelMath} (float: relative error of a few ulp over the whole float range, 0 for
 * -infinity and far below, NaN kept), the causal softmax forward and backward (float and double
 * twins; with and without padded keys, and a row with no visible key; whole batches and one head of
 * one sequence at a time); the language-model head's kernels over row ranges give what one whole pass
 * gives.
 */
class KernelsTest {

  @Test
  void arrayExpMatchesMathExpOverTheFloatRange() {
    Random rnd = new Random(3);
    int n = 5000;
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) (rnd.nextDouble() * 180 - 90); // [-90, 90): below the float range to near its top
    }
    a[0] = 0f;
    a[1] = Float.NEGATIVE_INFINITY;
    a[2] = -1000f;
    a[3] = Float.NaN;
    a[4] = 88.5f; // above the range: clamped to the largest float power, finite
    a[5] = -87.0f;
    float[] x = a.clone();
    KernelMath.exp(x, new float[n], n);
    assertEquals(1f, x[0]);
    assertEquals(0f, x[1]);
    assertEquals(0f, x[2]);
    assertTrue(Float.isNaN(x[3]));
    assertTrue(Float.isFinite(x[4]) && x[4] > 1e38f, "clamped: " + x[4]);
    for (int i = 5; i < n; i++) {
      double want = Math.exp(a[i]);
      if (want < 1.2e-38) { // below the normal floats: 0 or a denormal
        assertTrue(x[i] >= 0 && x[i] < 2e-38, a[i] + " -> " + x[i]);
        continue;
      }
      if (a[i] > 88.37f) { // clamped at ln(2^127.5), like the one-element exp
        assertTrue(x[i] > 1.6e38f && Float.isFinite(x[i]), a[i] + " -> " + x[i]);
        continue;
      }
      assertEquals(1.0, x[i] / want, 3e-7, "exp(" + a[i] + ")");
      assertEquals(KernelMath.exp(a[i]), x[i], 3e-7 * want, "same as the one-element exp at " + a[i]);
    }
    double[] d = {0, -2.5, 3.25, Double.NEGATIVE_INFINITY};
    KernelMath.exp(d, new double[4], 4);
    assertEquals(1.0, d[0]);
    assertEquals(Math.exp(-2.5), d[1]);
    assertEquals(Math.exp(3.25), d[2]);
    assertEquals(0.0, d[3]);
  }

  /**
   * A NaN of either sign stays NaN. The NaN that x86 arithmetic produces (0 * inf, inf - inf) has its
   * sign bit set, unlike {@link Float#NaN}; the array exponential once mapped such NaNs to 0, so a
   * softmax dropped a NaN score silently instead of passing it on.
   */
  @Test
  void nanOfEitherSignStaysNanInTheExponentialAndTheSoftmax() {
    float inf = Float.parseFloat("Infinity"); // at run time: no constant folding
    float computed = inf - inf; // x86 gives 0xffc00000
    assertTrue(Float.isNaN(computed), "inf - inf is NaN");
    float[] nans = {computed, -computed, Float.NaN, Float.intBitsToFloat(0xFFC00000), Float.intBitsToFloat(0xFF800001), Float.intBitsToFloat(0x7F800001)};
    float[] a = new float[nans.length + 2];
    System.arraycopy(nans, 0, a, 0, nans.length);
    a[nans.length] = -87.9f; // k = -127: exactly 0 without a branch
    a[nans.length + 1] = -1e6f; // clamped: exactly 0
    KernelMath.exp(a, new float[a.length], a.length);
    for (int i = 0; i < nans.length; i++) {
      assertTrue(Float.isNaN(a[i]), String.format("exp of the NaN 0x%08x is %s", Float.floatToRawIntBits(nans[i]), a[i]));
    }
    assertEquals(0, Float.floatToRawIntBits(a[nans.length]), "+0 at -87.9");
    assertEquals(0, Float.floatToRawIntBits(a[nans.length + 1]), "+0 far below the range");

    int t = 6;
    float[] s = new float[t * t];
    for (int i = 0; i < s.length; i++) {
      s[i] = (i % 7) * 0.25f - 0.5f;
    }
    int nanRow = 4;
    s[nanRow * t + 1] = Float.intBitsToFloat(0xFFC00000); // a visible key of row 4
    Tensor scores = Tensor.of(Nd4j.create(s, new long[] {1, t, t}, 'c'));
    int[] mask = {1, 1, 1, 1, 1, 1};
    AttentionKernels.of(DataType.FLOAT).causalSoftmaxOf(scores, mask, 0, 1, t, 1.0);
    float[] got = scores.array().data().asFloat();
    for (int i = 0; i < t; i++) {
      double rowSum = 0;
      for (int j = 0; j <= i; j++) {
        float p = got[i * t + j];
        if (i == nanRow) {
          assertTrue(Float.isNaN(p), "row " + i + " has a NaN score: entry " + j + " is " + p);
        } else {
          assertTrue(p > 0 && p <= 1, "row " + i + " entry " + j + " is " + p);
          rowSum += p;
        }
      }
      if (i != nanRow) {
        assertEquals(1.0, rowSum, 1e-6, "row " + i);
      }
    }
  }

  /** A plain causal masked softmax of {@code [b, heads, t, t]} scores, in double. */
  private static double[] softmaxReference(double[] s, int[] mask, int b, int heads, int t, double scale) {
    double[] out = new double[s.length];
    for (int bi = 0; bi < b; bi++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < t; i++) {
          int off = ((bi * heads + h) * t + i) * t;
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j <= i; j++) {
            if (mask[bi * t + j] != 0) {
              max = Math.max(max, s[off + j] * scale);
            }
          }
          if (max == Double.NEGATIVE_INFINITY) {
            continue; // no visible key: zeros
          }
          double sum = 0;
          for (int j = 0; j <= i; j++) {
            if (mask[bi * t + j] != 0) {
              out[off + j] = Math.exp(s[off + j] * scale - max);
              sum += out[off + j];
            }
          }
          for (int j = 0; j <= i; j++) {
            out[off + j] /= sum;
          }
        }
      }
    }
    return out;
  }

  private static Tensor tensor(DataType type, double[] v, long... shape) {
    return Tensor.of(Nd4j.create(v, shape, 'c').castTo(type));
  }

  private static double[] values(Tensor t) {
    return t.array().castTo(DataType.DOUBLE).data().asDouble();
  }

  @Test
  void tokenLogProbsOverRowRangesEqualTheWholePass() {
    int b = 2;
    int t = 5;
    int v = 37;
    Random rnd = new Random(11);
    int[] ids = new int[b * t];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = rnd.nextInt(v);
    }
    int[] cuts = {0, 3, 4, 9, 10}; // ranges that split a sequence, hold only its last position, or cross into the next
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      HeadKernels k = HeadKernels.of(type);
      Tensor logits = Tensor.of(Nd4j.randn(type, b * t, v).muli(3));
      Tensor gl = Tensor.of(Nd4j.randn(type, b, t - 1));
      Tensor ge = Tensor.of(Nd4j.randn(type, b, t - 1));
      Tensor[] whole = {Tensor.of(Nd4j.create(type, b, t - 1)), Tensor.of(Nd4j.create(type, b, t - 1)), Tensor.of(Nd4j.create(type, b, t - 1)),
          Tensor.of(Nd4j.create(type, b * t, v))};
      Tensor[] parts = {Tensor.of(Nd4j.create(type, b, t - 1)), Tensor.of(Nd4j.create(type, b, t - 1)), Tensor.of(Nd4j.create(type, b, t - 1)),
          Tensor.of(Nd4j.valueArrayOf(new long[] {b * t, v}, Double.NaN, type))};
      k.tokenLogProbs(logits, ids, 1 / 0.7, whole[0], whole[1], whole[2], t, v, 0, b * t);
      k.tokenLogProbsBackward(logits, ids, 1 / 0.7, whole[2], whole[1], gl, ge, whole[3], t, v, 0, b * t);
      for (int c = 0; c + 1 < cuts.length; c++) {
        k.tokenLogProbs(logits, ids, 1 / 0.7, parts[0], parts[1], parts[2], t, v, cuts[c], cuts[c + 1]);
      }
      for (int c = cuts.length - 2; c >= 0; c--) {
        k.tokenLogProbsBackward(logits, ids, 1 / 0.7, parts[2], parts[1], gl, ge, parts[3], t, v, cuts[c], cuts[c + 1]);
      }
      for (int i = 0; i < 4; i++) {
        assertEquals(whole[i].array(), parts[i].array(), type + " output " + i);
      }
      assertTrue(whole[0].array().maxNumber().doubleValue() < 0, "log-probabilities are negative");
    }
  }

  @Test
  void causalSoftmaxMatchesAPlainReference() {
    int b = 3;
    int heads = 2;
    int t = 37; // odd, not a multiple of any vector width
    Random rnd = new Random(7);
    double[] s = new double[b * heads * t * t];
    for (int i = 0; i < s.length; i++) {
      s[i] = rnd.nextGaussian() * 20; // wide: rows whose entries differ by far more than exp's range
    }
    int[] allVisible = new int[b * t];
    java.util.Arrays.fill(allVisible, 1);
    int[] padded = allVisible.clone();
    for (int j = 0; j < 5; j++) {
      padded[t + j] = 0; // sequence 1 is left-padded by 5: its first 5 rows see no key
    }
    padded[2 * t + 10] = 0; // sequence 2 hides one key in the middle
    for (int[] mask : new int[][] {allVisible, padded}) {
      for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
        Tensor scores = tensor(type, s, b * heads, t, t);
        AttentionKernels.of(type).causalSoftmax(scores, mask, b, heads, t, 0.3);
        double[] got = values(scores);
        double[] want = softmaxReference(s, mask, b, heads, t, 0.3);
        double tol = type == DataType.FLOAT ? 2e-6 : 1e-14;
        for (int i = 0; i < want.length; i++) {
          assertEquals(want[i], got[i], tol, type + " element " + i + (mask == padded ? " (padded)" : ""));
        }
        // One sequence's heads at a time (its mask at an offset), head by head: the same numbers.
        Tensor again = tensor(type, s, b * heads, t, t);
        for (int bi = 0; bi < b; bi++) {
          for (int h = 0; h < heads; h++) {
            int i = bi * heads + h;
            AttentionKernels.of(type).causalSoftmaxOf(again.rows(i, i + 1), mask, bi * t, 1, t, 0.3);
          }
        }
        double[] one = values(again);
        for (int i = 0; i < want.length; i++) {
          assertEquals(got[i], one[i], 0.0, type + " element " + i + " head by head");
        }
      }
    }
  }

  @Test
  void causalSoftmaxOfScoresFarOutsideTheExponentialsRange() {
    // Rows whose scaled scores all lie far above or below exp's range, around its edges, or spread
    // widely; a hidden key with a huge score; a NaN score.
    int t = 41;
    double[] centres = {0, 300, -300, 79, 81, -39, -41, 1e4, -1e4};
    Random rnd = new Random(11);
    double[] s = new double[t * t];
    for (int i = 0; i < t; i++) {
      for (int j = 0; j < t; j++) {
        s[i * t + j] = centres[i % centres.length] + rnd.nextGaussian() * (i % 4 == 3 ? 60 : 2);
      }
    }
    int[] mask = new int[t];
    java.util.Arrays.fill(mask, 1);
    mask[2] = 0;
    for (int i = 2; i < t; i++) {
      s[i * t + 2] = 1e30; // hidden: must not count
    }
    int nanRow = 20;
    s[nanRow * t + 5] = Double.NaN;
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      Tensor scores = tensor(type, s, 1, t, t);
      AttentionKernels.of(type).causalSoftmaxOf(scores, mask, 0, 1, t, 1.0);
      double[] got = values(scores);
      double[] in = s.clone(); // as stored: float scores of size 300 are rounded by 1.5e-5
      if (type == DataType.FLOAT) {
        for (int i = 0; i < in.length; i++) {
          in[i] = (float) in[i];
        }
      }
      double[] want = softmaxReference(in, mask, 1, 1, t, 1.0);
      double tol = type == DataType.FLOAT ? 2e-6 : 1e-14;
      for (int i = 0; i < t; i++) {
        double rowSum = 0;
        for (int j = 0; j < t; j++) {
          double g = got[i * t + j];
          if (i == nanRow && j <= i) {
            assertTrue(Double.isNaN(g), type + " row " + i + " has a NaN score: entry " + j + " is " + g);
            continue;
          }
          assertEquals(want[i * t + j], g, tol, type + " row " + i + " entry " + j);
          rowSum += g;
        }
        if (i != nanRow) { // every row sees key 0
          assertEquals(1.0, rowSum, 1e-5, type + " row " + i + " sums to 1");
        }
      }
    }
  }

  @Test
  void branchFreeMaximumIsTheLargestElement() {
    Random rnd = new Random(5);
    float[] specials = {0f, -0f, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MAX_VALUE, -Float.MAX_VALUE};
    for (int trial = 0; trial < 2000; trial++) {
      int n = 1 + rnd.nextInt(40);
      int off = rnd.nextInt(3);
      float[] a = new float[off + n];
      double[] ad = new double[off + n];
      for (int i = 0; i < a.length; i++) {
        a[i] = rnd.nextInt(5) == 0 ? specials[rnd.nextInt(specials.length)] : (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(9) - 4));
        if (trial % 3 == 0) {
          a[i] = -Math.abs(a[i]); // all negative: the keys' reversed order
        }
        ad[i] = a[i];
      }
      float want = a[off];
      for (int i = off + 1; i < off + n; i++) {
        want = a[i] > want || (a[i] == 0 && want == 0 && Float.floatToRawIntBits(want) < 0) ? a[i] : want; // +0 above -0
      }
      assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(KernelMath.max(a, off, n)), "float trial " + trial);
      assertEquals(Double.doubleToRawLongBits(want), Double.doubleToRawLongBits(KernelMath.max(ad, off, n)), "double trial " + trial);
    }
    assertTrue(Float.isNaN(KernelMath.max(new float[] {1f, Float.NaN, 3f}, 0, 3)), "a NaN is the maximum");
    assertTrue(Double.isNaN(KernelMath.max(new double[] {1, 2, Double.NaN, 3, 4}, 0, 5)), "a NaN is the maximum");
  }

  @Test
  void causalSoftmaxBackwardMatchesAPlainReference() {
    int b = 2;
    int heads = 3;
    int t = 19;
    Random rnd = new Random(11);
    double[] s = new double[b * heads * t * t];
    double[] g = new double[s.length];
    for (int i = 0; i < s.length; i++) {
      s[i] = rnd.nextGaussian();
      g[i] = rnd.nextGaussian();
    }
    int[] mask = new int[b * t];
    java.util.Arrays.fill(mask, 1);
    double[] p = softmaxReference(s, mask, b, heads, t, 0.5);
    double[] want = new double[s.length]; // dS = scale * p * (g - sum_j p_j g_j), 0 above the diagonal
    for (int r = 0; r < b * heads * t; r++) {
      int i = r % t;
      int off = r * t;
      double dot = 0;
      for (int j = 0; j <= i; j++) {
        dot += p[off + j] * g[off + j];
      }
      for (int j = 0; j <= i; j++) {
        want[off + j] = 0.5 * p[off + j] * (g[off + j] - dot);
      }
    }
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      Tensor probs = tensor(type, p, b * heads, t, t);
      Tensor grads = tensor(type, g, b * heads, t, t);
      AttentionKernels.of(type).causalSoftmaxBackward(probs, grads, b, heads, t, 0.5);
      double[] got = values(grads);
      double tol = type == DataType.FLOAT ? 1e-6 : 1e-14;
      for (int i = 0; i < want.length; i++) {
        assertEquals(want[i], got[i], tol, type + " element " + i);
      }
    }
  }

  /**
   * GELU of {@code pre + bias} matches GELU's tanh form in double; {@link
   * PointwiseKernels#biasGeluSavingSlope} gives the same activations and leaves GELU's derivative in
   * {@code pre} (while {@link PointwiseKernels#biasGelu} leaves {@code pre} as it was), and the
   * backward product ({@link PointwiseKernels#multiply}) may write over its input gradient.
   */
  @Test
  void biasGeluAndItsBackwardMatchTheReference() {
    int n = 3;
    int cols = 37;
    Random rnd = new Random(5);
    double[] pre = new double[n * cols];
    double[] bias = new double[cols];
    double[] g = new double[n * cols];
    for (int i = 0; i < pre.length; i++) {
      pre[i] = rnd.nextGaussian() * 3;
      g[i] = rnd.nextGaussian();
    }
    for (int j = 0; j < cols; j++) {
      bias[j] = rnd.nextGaussian();
    }
    double c = Math.sqrt(2 / Math.PI);
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      PointwiseKernels k = PointwiseKernels.of(type);
      Tensor p = tensor(type, pre, n, cols);
      Tensor b = tensor(type, bias, cols);
      Tensor a = tensor(type, new double[n * cols], n, cols);
      k.biasGelu(p, b, a, n, cols);
      Tensor slope = tensor(type, pre, n, cols);
      Tensor a2 = tensor(type, new double[n * cols], n, cols);
      k.biasGeluSavingSlope(slope, b, a2, n, cols);
      Tensor d = tensor(type, g, n, cols);
      k.multiply(d, slope, d, n * cols);
      Tensor dSeparate = tensor(type, new double[n * cols], n, cols);
      k.multiply(tensor(type, g, n, cols), slope, dSeparate, n * cols);
      double[] x = values(p);
      double[] act = values(a);
      double[] act2 = values(a2);
      double[] dPre = values(d);
      double[] dPre2 = values(dSeparate);
      double tol = type == DataType.FLOAT ? 2e-6 : 1e-13;
      for (int i = 0; i < pre.length; i++) {
        double in = type == DataType.FLOAT ? (float) pre[i] : pre[i];
        assertEquals(in, x[i], 0.0, type + " pre unchanged by biasGelu " + i);
        double xv = pre[i] + bias[i % cols];
        double u = c * (xv + 0.044715 * xv * xv * xv);
        double t = Math.tanh(u);
        double want = 0.5 * xv * (1 + t);
        double dWant = g[i] * (0.5 * (1 + t) + 0.5 * xv * (1 - t * t) * c * (1 + 3 * 0.044715 * xv * xv));
        assertEquals(want, act[i], tol * (1 + Math.abs(want)), type + " act vs reference " + i);
        assertEquals(act[i], act2[i], 0.0, type + " act with the slope saved " + i);
        assertEquals(dWant, dPre[i], tol * (1 + Math.abs(dWant)), type + " dPre vs reference " + i);
        assertEquals(dPre[i], dPre2[i], 0.0, type + " dPre in place vs separate " + i);
      }
    }
  }
}
