package org.rlhf4j.core.model;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * One row of a model's parameter table: a named tensor's shape, how it is initialised and whether
 * AdamW decays it. A model family writes its table once (a {@code List<ParameterSpec>}); the flat
 * buffer's {@link ParameterLayout} and the initial values ({@link Initializer}) are derived from it.
 *
 * @param name the tensor's name (e.g. Hugging Face's {@code h.0.attn.c_attn.weight})
 * @param shape the tensor's shape, every dimension {@code >= 1}
 * @param init how {@link Initializer} fills it
 * @param decay whether AdamW's weight decay applies (embeddings and matrices, typically)
 */
public record ParameterSpec(String name, long[] shape, Init init, boolean decay) {

  /** How a tensor is initialised. */
  public sealed interface Init permits Normal, Constant {
    /**
     * Fills {@code values} (row-major) from {@code rng}; draws from {@code rng} only if the
     * initialisation is random.
     */
    void fill(double[] values, SplittableRandom rng);

    /** Gaussian with mean 0 and standard deviation {@code std}. */
    static Init normal(double std) {
      return new Normal(std);
    }

    /** All zeros. */
    static Init zeros() {
      return new Constant(0);
    }

    /** All ones (e.g. a LayerNorm gain). */
    static Init ones() {
      return new Constant(1);
    }
  }

  /** N(0, std²), drawn with {@link SplittableRandom#nextGaussian()} element by element. */
  public record Normal(double std) implements Init {
    public Normal {
      checkArgument(std >= 0 && Double.isFinite(std), "std must be finite and >= 0, got %s", std);
    }

    @Override
    public void fill(double[] values, SplittableRandom rng) {
      for (int i = 0; i < values.length; i++) {
        values[i] = rng.nextGaussian() * std;
      }
    }
  }

  /** Every element equal to {@code value}; draws nothing. */
  public record Constant(double value) implements Init {
    public Constant {
      checkArgument(Double.isFinite(value), "value must be finite, got %s", value);
    }

    @Override
    public void fill(double[] values, SplittableRandom rng) {
      Arrays.fill(values, value);
    }
  }

  public ParameterSpec {
    checkArgument(name != null && !name.isEmpty(), "a parameter needs a name");
    checkArgument(shape != null && shape.length >= 1, "parameter %s needs a shape", name);
    for (long s : shape) {
      checkArgument(s >= 1, "parameter %s has shape %s: every dimension must be >= 1", name, Arrays.toString(shape));
    }
    checkArgument(init != null, "parameter %s needs an initialisation", name);
    shape = shape.clone();
  }

  /** A weight-decayed tensor (an embedding or a matrix). */
  public static ParameterSpec decayed(String name, Init init, long... shape) {
    return new ParameterSpec(name, shape, init, true);
  }

  /** A tensor without weight decay (a bias or a norm's gain). */
  public static ParameterSpec plain(String name, Init init, long... shape) {
    return new ParameterSpec(name, shape, init, false);
  }

  /** A defensive copy of the shape. */
  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** The number of elements. */
  public long size() {
    long n = 1;
    for (long s : shape) {
      n = Math.multiplyExact(n, s);
    }
    return n;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ParameterSpec p
        && name.equals(p.name)
        && Arrays.equals(shape, p.shape)
        && init.equals(p.init)
        && decay == p.decay;
  }

  @Override
  public int hashCode() {
    return name.hashCode() * 31 + Arrays.hashCode(shape);
  }

  @Override
  public String toString() {
    return name + Arrays.toString(shape) + " " + init + (decay ? " decay" : "");
  }
}
