package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.tensor.Blas;
import org.rlhf4j.core.tensor.Tensor;

/**
 * The arithmetic of one LoRA-adapted linear layer, on caller-owned buffers (no allocation).
 *
 * <p>For a base layer {@code y = x Wᵀ (+ b)} with {@code x [N, in]}, the adapter adds {@code s · (x
 * Aᵀ) Bᵀ} with {@code A [r, in]}, {@code B [out, r]} (PEFT's {@code lora_A.weight} and {@code
 * lora_B.weight}, torch's {@code [out_features, in_features]} layout whatever the base layout) and
 * scale {@code s}. The forward pass keeps {@code u = x Aᵀ [N, r]} for the backward pass. With dropout
 * the caller passes the dropped input {@code x ∘ m} (see {@link #dropoutMask} and {@link
 * #multiply}) instead of {@code x}, and multiplies the input gradient by the same mask.
 *
 * <p>Merging adds {@code s · B A} to a base weight stored {@code [out, in]} (torch's Linear, Hugging
 * Face Llama), or its transpose {@code s · Aᵀ Bᵀ} to one stored {@code [in, out]} (GPT-2's Conv1D,
 * PEFT's {@code fan_in_fan_out}).
 */
public final class LoraMath {
  private LoraMath() {}

  /**
   * {@code u = x Aᵀ} and {@code y += s · u Bᵀ}.
   *
   * @param x the layer's input (or its dropped version) {@code [N, in]}
   * @param a {@code [r, in]}
   * @param b {@code [out, r]}
   * @param scale {@code s}
   * @param u written: {@code [N, r]}, kept for {@link #backward}
   * @param y added to: the base layer's output {@code [N, out]}
   * @param ways threads a product may be split over
   */
  public static void forward(Tensor x, Tensor a, Tensor b, double scale, Tensor u, Tensor y, int ways) {
    checkShapes(x, a, b, u, y);
    Blas.gemm(x, a, u, false, true, 1.0, 0.0, ways);
    Blas.gemm(u, b, y, false, true, scale, 1.0, ways);
  }

  /**
   * The backward pass of {@link #forward}: {@code dB += s · dyᵀ u}, {@code du = s · dy B}, {@code dA
   * += duᵀ x} and, if {@code dx} is given, {@code dx += du A}.
   *
   * @param x the forward pass's {@code x} {@code [N, in]}
   * @param u the forward pass's {@code u} {@code [N, r]}
   * @param a {@code [r, in]}
   * @param b {@code [out, r]}
   * @param scale {@code s}
   * @param dy the gradient of the layer's output {@code [N, out]}
   * @param du scratch, overwritten: {@code [N, r]}
   * @param gradA added to: {@code [r, in]}
   * @param gradB added to: {@code [out, r]}
   * @param dx added to when not null: the gradient of {@code x}, {@code [N, in]}
   * @param ways threads a product may be split over
   */
  public static void backward(
      Tensor x, Tensor u, Tensor a, Tensor b, double scale, Tensor dy, Tensor du, Tensor gradA, Tensor gradB, Tensor dx, int ways) {
    checkShapes(x, a, b, u, dy);
    checkArgument(Arrays.equals(du.shape(), u.shape()), "du %s must have u's shape %s", du, u);
    checkArgument(Arrays.equals(gradA.shape(), a.shape()), "gradA %s must have A's shape %s", gradA, a);
    checkArgument(Arrays.equals(gradB.shape(), b.shape()), "gradB %s must have B's shape %s", gradB, b);
    Blas.gemm(dy, u, gradB, true, false, scale, 1.0, ways);
    Blas.gemm(dy, b, du, false, false, scale, 0.0, ways);
    Blas.gemm(du, x, gradA, true, false, 1.0, 1.0, ways);
    if (dx != null) {
      checkArgument(Arrays.equals(dx.shape(), x.shape()), "dx %s must have x's shape %s", dx, x);
      Blas.gemm(du, a, dx, false, false, 1.0, 1.0, ways);
    }
  }

  /**
   * Adds {@code sign · s · B A} to {@code w [out, in]}, or {@code sign · s · (B A)ᵀ} to {@code w [in,
   * out]} when {@code fanInFanOut}: {@code sign} 1 merges, -1 subtracts the same product again.
   */
  public static void addDelta(Tensor w, Tensor a, Tensor b, double scale, boolean fanInFanOut, int sign) {
    checkArgument(sign == 1 || sign == -1, "sign must be 1 or -1, got %s", sign);
    long[] as = a.shape();
    long[] bs = b.shape();
    checkArgument(as.length == 2 && bs.length == 2 && as[0] == bs[1], "A %s and B %s do not share a rank", a, b);
    long[] expected = fanInFanOut ? new long[] {as[1], bs[0]} : new long[] {bs[0], as[1]};
    checkArgument(
        Arrays.equals(w.shape(), expected),
        "base weight %s does not fit A %s and B %s (expected %s, fan_in_fan_out %s)",
        w, a, b, Arrays.toString(expected), fanInFanOut);
    if (fanInFanOut) {
      Blas.gemm(a, b, w, true, true, sign * scale, 1.0, 1);
    } else {
      Blas.gemm(b, a, w, false, false, sign * scale, 1.0, 1);
    }
  }

  /**
   * Fills {@code mask} with inverted-dropout factors: 0 with probability {@code p}, else {@code 1 /
   * (1 - p)} (torch's {@code nn.Dropout}).
   */
  public static void dropoutMask(SplittableRandom rng, double p, Tensor mask) {
    checkArgument(p >= 0 && p < 1, "dropout must be in [0, 1), got %s", p);
    double keep = 1.0 / (1.0 - p);
    int n = mask.length();
    if (mask.dataType() == DataType.FLOAT) {
      FloatBuffer m = mask.writableFloatBuffer();
      for (int i = 0; i < n; i++) {
        m.put(i, rng.nextDouble() < p ? 0f : (float) keep);
      }
    } else {
      DoubleBuffer m = mask.writableDoubleBuffer();
      for (int i = 0; i < n; i++) {
        m.put(i, rng.nextDouble() < p ? 0.0 : keep);
      }
    }
  }

  /** {@code out = x ∘ mask} element-wise (all of one length and type); {@code out} may be {@code x}. */
  public static void multiply(Tensor x, Tensor mask, Tensor out) {
    combine(x, mask, out, false);
  }

  /** {@code out += x ∘ mask} element-wise (all of one length and type). */
  public static void addMultiplied(Tensor x, Tensor mask, Tensor out) {
    combine(x, mask, out, true);
  }

  private static void combine(Tensor x, Tensor mask, Tensor out, boolean accumulate) {
    int n = x.length();
    checkArgument(mask.length() == n && out.length() == n, "lengths differ: %s %s %s", x, mask, out);
    checkArgument(x.dataType() == mask.dataType() && x.dataType() == out.dataType(), "types differ: %s %s %s", x, mask, out);
    if (x.dataType() == DataType.FLOAT) {
      FloatBuffer xs = x.asFloatBuffer();
      FloatBuffer ms = mask.asFloatBuffer();
      FloatBuffer os = out.writableFloatBuffer();
      for (int i = 0; i < n; i++) {
        float v = xs.get(i) * ms.get(i);
        os.put(i, accumulate ? os.get(i) + v : v);
      }
    } else {
      DoubleBuffer xs = x.asDoubleBuffer();
      DoubleBuffer ms = mask.asDoubleBuffer();
      DoubleBuffer os = out.writableDoubleBuffer();
      for (int i = 0; i < n; i++) {
        double v = xs.get(i) * ms.get(i);
        os.put(i, accumulate ? os.get(i) + v : v);
      }
    }
  }

  /**
   * Initialises a new adapter's {@code a [r, in]} and {@code b [out, r]} as PEFT does for {@code
   * init} (see {@link LoraInit}), drawing from {@code rng}.
   */
  public static void initialize(Tensor a, Tensor b, LoraInit init, SplittableRandom rng) {
    long[] as = a.shape();
    long[] bs = b.shape();
    checkArgument(as.length == 2 && bs.length == 2 && as[0] == bs[1], "A %s and B %s do not share a rank", a, b);
    int r = (int) as[0];
    switch (init) {
      case DEFAULT -> {
        uniform(a, 1.0 / Math.sqrt(as[1]), rng);
        b.zero();
      }
      case GAUSSIAN -> {
        double std = 1.0 / r;
        int n = a.length();
        for (int i = 0; i < n; i++) {
          put(a, i, rng.nextGaussian() * std);
        }
        b.zero();
      }
      case RANDOM -> {
        uniform(a, 1.0 / Math.sqrt(as[1]), rng);
        uniform(b, 1.0 / Math.sqrt(r), rng);
      }
    }
  }

  private static void uniform(Tensor t, double bound, SplittableRandom rng) {
    int n = t.length();
    for (int i = 0; i < n; i++) {
      put(t, i, (2 * rng.nextDouble() - 1) * bound);
    }
  }

  private static void put(Tensor t, int i, double v) {
    if (t.dataType() == DataType.FLOAT) {
      t.writableFloatBuffer().put(i, (float) v);
    } else {
      t.writableDoubleBuffer().put(i, v);
    }
  }

  private static void checkShapes(Tensor x, Tensor a, Tensor b, Tensor u, Tensor y) {
    long[] xs = x.shape();
    long[] as = a.shape();
    long[] bs = b.shape();
    checkArgument(xs.length == 2 && as.length == 2 && bs.length == 2, "x %s, A %s and B %s must be 2-D", x, a, b);
    checkArgument(as[1] == xs[1], "A %s does not fit input %s (A is [r, in])", a, x);
    checkArgument(bs[1] == as[0], "B %s does not fit A %s (B is [out, r])", b, a);
    checkArgument(Arrays.equals(u.shape(), new long[] {xs[0], as[0]}), "u %s must be [N, r] = [%s, %s]", u, xs[0], as[0]);
    checkArgument(Arrays.equals(y.shape(), new long[] {xs[0], bs[0]}), "output %s must be [N, out] = [%s, %s]", y, xs[0], bs[0]);
  }
}
