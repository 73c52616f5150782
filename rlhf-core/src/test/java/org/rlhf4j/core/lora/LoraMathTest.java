package org.rlhf4j.core.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.tensor.Blas;
import org.rlhf4j.core.tensor.Tensor;
import org.rlhf4j.core.testing.GradientCheck;

class LoraMathTest {
  private static final int N = 5;
  private static final int IN = 7;
  private static final int OUT = 6;
  private static final int R = 3;
  private static final double S = 1.7;

  private static INDArray random(SplittableRandom rng, DataType type, long... shape) {
    INDArray a = Nd4j.create(type, shape);
    for (long i = 0; i < a.length(); i++) {
      a.putScalar(i, rng.nextGaussian());
    }
    return a;
  }

  /** The layer y = x Wᵀ + b + s (drop(x) Aᵀ) Bᵀ, and a fixed random linear loss sum(y ∘ c). */
  private static final class Layer {
    final INDArray x;
    final INDArray w;
    final INDArray bias;
    final INDArray a;
    final INDArray b;
    final INDArray c;
    final INDArray mask; // null without dropout

    Layer(long seed, boolean dropout) {
      SplittableRandom rng = new SplittableRandom(seed);
      x = random(rng, DataType.DOUBLE, N, IN);
      w = random(rng, DataType.DOUBLE, OUT, IN);
      bias = random(rng, DataType.DOUBLE, OUT);
      a = random(rng, DataType.DOUBLE, R, IN);
      b = random(rng, DataType.DOUBLE, OUT, R);
      c = random(rng, DataType.DOUBLE, N, OUT);
      if (dropout) {
        mask = Nd4j.create(DataType.DOUBLE, N, IN);
        LoraMath.dropoutMask(new SplittableRandom(seed + 1), 0.3, Tensor.of(mask));
      } else {
        mask = null;
      }
    }

    INDArray input() {
      if (mask == null) {
        return x;
      }
      INDArray xd = Nd4j.create(DataType.DOUBLE, N, IN);
      LoraMath.multiply(Tensor.of(x), Tensor.of(mask), Tensor.of(xd));
      return xd;
    }

    INDArray forward(INDArray u) {
      INDArray y = Nd4j.create(DataType.DOUBLE, N, OUT);
      Blas.gemm(Tensor.of(x), Tensor.of(w), Tensor.of(y), false, true);
      y.addiRowVector(bias);
      LoraMath.forward(Tensor.of(input()), Tensor.of(a), Tensor.of(b), S, Tensor.of(u), Tensor.of(y), 1);
      return y;
    }

    double loss() {
      return forward(Nd4j.create(DataType.DOUBLE, N, R)).mul(c).sumNumber().doubleValue();
    }
  }

  @Test
  void gradientsOfAbAndTheInputMatchFiniteDifferences() {
    for (boolean dropout : new boolean[] {false, true}) {
      Layer l = new Layer(11, dropout);
      INDArray u = Nd4j.create(DataType.DOUBLE, N, R);
      l.forward(u);
      INDArray du = Nd4j.create(DataType.DOUBLE, N, R);
      INDArray gA = Nd4j.create(DataType.DOUBLE, R, IN);
      INDArray gB = Nd4j.create(DataType.DOUBLE, OUT, R);
      INDArray dx = Nd4j.create(DataType.DOUBLE, N, IN);
      // dy of sum(y ∘ c) is c; the base layer's dx = dy W, then the adapter adds its part
      Blas.gemm(Tensor.of(l.c), Tensor.of(l.w), Tensor.of(dx), false, false);
      INDArray dxAdapter = Nd4j.create(DataType.DOUBLE, N, IN);
      LoraMath.backward(
          Tensor.of(l.input()), Tensor.of(u), Tensor.of(l.a), Tensor.of(l.b), S, Tensor.of(l.c), Tensor.of(du), Tensor.of(gA),
          Tensor.of(gB), Tensor.of(dxAdapter), 1);
      if (dropout) {
        LoraMath.addMultiplied(Tensor.of(dxAdapter), Tensor.of(l.mask), Tensor.of(dx));
      } else {
        dx.addi(dxAdapter);
      }
      String tag = dropout ? " (dropout)" : "";
      GradientCheck.assertMatches("A" + tag, l.a, gA, l::loss, 1e-5);
      GradientCheck.assertMatches("B" + tag, l.b, gB, l::loss, 1e-5);
      GradientCheck.assertMatches("x" + tag, l.x, dx, l::loss, 1e-5);
    }
  }

  @Test
  void backwardAccumulatesIntoGradients() {
    Layer l = new Layer(3, false);
    INDArray u = Nd4j.create(DataType.DOUBLE, N, R);
    l.forward(u);
    INDArray gA = Nd4j.create(DataType.DOUBLE, R, IN);
    INDArray gB = Nd4j.create(DataType.DOUBLE, OUT, R);
    INDArray du = Nd4j.create(DataType.DOUBLE, N, R);
    for (int i = 0; i < 2; i++) {
      LoraMath.backward(Tensor.of(l.x), Tensor.of(u), Tensor.of(l.a), Tensor.of(l.b), S, Tensor.of(l.c), Tensor.of(du),
          Tensor.of(gA), Tensor.of(gB), null, 1);
    }
    INDArray onceA = Nd4j.create(DataType.DOUBLE, R, IN);
    INDArray onceB = Nd4j.create(DataType.DOUBLE, OUT, R);
    LoraMath.backward(Tensor.of(l.x), Tensor.of(u), Tensor.of(l.a), Tensor.of(l.b), S, Tensor.of(l.c), Tensor.of(du),
        Tensor.of(onceA), Tensor.of(onceB), null, 1);
    assertTrue(gA.equalsWithEps(onceA.mul(2), 1e-12));
    assertTrue(gB.equalsWithEps(onceB.mul(2), 1e-12));
  }

  @Test
  void mergedWeightGivesTheSameOutputInBothLayoutsAndUnmergeSubtractsIt() {
    Layer l = new Layer(5, false);
    INDArray y = l.forward(Nd4j.create(DataType.DOUBLE, N, R));
    // [out, in] (torch Linear)
    INDArray w = l.w.dup();
    LoraMath.addDelta(Tensor.of(w), Tensor.of(l.a), Tensor.of(l.b), S, false, 1);
    INDArray merged = l.x.mmul(w.transpose()).addiRowVector(l.bias);
    assertTrue(merged.equalsWithEps(y, 1e-10), "x (W + s B A)ᵀ = x Wᵀ + s (x Aᵀ) Bᵀ");
    LoraMath.addDelta(Tensor.of(w), Tensor.of(l.a), Tensor.of(l.b), S, false, -1);
    assertTrue(w.equalsWithEps(l.w, 1e-12));
    // [in, out] (GPT-2 Conv1D, fan_in_fan_out): y = x W + b
    INDArray wt = l.w.transpose().dup('c');
    LoraMath.addDelta(Tensor.of(wt), Tensor.of(l.a), Tensor.of(l.b), S, true, 1);
    assertTrue(l.x.mmul(wt).addiRowVector(l.bias).equalsWithEps(y, 1e-10), "x (W + s (B A)ᵀ) = y with fan_in_fan_out");
  }

  @Test
  void initialisationFollowsPeftAndTheSeed() {
    int in = 400;
    int out = 50;
    int r = 8;
    INDArray a = Nd4j.create(DataType.FLOAT, r, in);
    INDArray b = Nd4j.create(DataType.FLOAT, out, r).assign(5);
    LoraMath.initialize(Tensor.of(a), Tensor.of(b), LoraInit.DEFAULT, new SplittableRandom(1));
    double bound = 1 / Math.sqrt(in);
    assertTrue(a.amaxNumber().doubleValue() <= bound, "Kaiming-uniform(a=sqrt 5) stays within 1/sqrt(in)");
    assertTrue(a.amaxNumber().doubleValue() > 0.95 * bound, "and fills the range");
    // uniform on ±bound has variance bound²/3
    double var = a.varNumber().doubleValue();
    assertEquals(bound * bound / 3, var, 0.1 * bound * bound / 3);
    assertEquals(0.0, b.amaxNumber().doubleValue(), "B starts at zero: a new adapter leaves the model unchanged");
    INDArray a2 = Nd4j.create(DataType.FLOAT, r, in);
    LoraMath.initialize(Tensor.of(a2), Tensor.of(b), LoraInit.DEFAULT, new SplittableRandom(1));
    assertArrayEquals(a.ravel().toFloatVector(), a2.ravel().toFloatVector(), "same seed, same adapter");
    LoraMath.initialize(Tensor.of(a2), Tensor.of(b), LoraInit.DEFAULT, new SplittableRandom(2));
    assertTrue(!a.equals(a2), "another seed, another adapter");
    LoraMath.initialize(Tensor.of(a), Tensor.of(b), LoraInit.GAUSSIAN, new SplittableRandom(3));
    assertEquals(1.0 / r, Math.sqrt(a.varNumber().doubleValue()), 0.1 / r);
    assertEquals(0.0, b.amaxNumber().doubleValue());
    LoraMath.initialize(Tensor.of(a), Tensor.of(b), LoraInit.RANDOM, new SplittableRandom(4));
    assertTrue(b.amaxNumber().doubleValue() > 0 && b.amaxNumber().doubleValue() <= 1 / Math.sqrt(r));
  }

  @Test
  void dropoutMaskKeepsTheExpectation() {
    INDArray m = Nd4j.create(DataType.DOUBLE, 200, 100);
    LoraMath.dropoutMask(new SplittableRandom(9), 0.25, Tensor.of(m));
    double zeros = m.eq(0).castTo(DataType.DOUBLE).meanNumber().doubleValue();
    assertEquals(0.25, zeros, 0.02);
    assertEquals(1.0, m.meanNumber().doubleValue(), 0.03);
    assertEquals(1 / 0.75, m.maxNumber().doubleValue(), 1e-12);
  }
}
