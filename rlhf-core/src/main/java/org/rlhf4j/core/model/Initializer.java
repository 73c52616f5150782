package org.rlhf4j.core.model;

import java.util.SplittableRandom;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Fills parameters from their {@link ParameterSpec}s: one {@link SplittableRandom} seeded with
 * {@code seed} is drawn from tensor by tensor in buffer order (decayed tensors first), element by
 * element in row-major order, so a seed gives the same weights on every platform and backend.
 */
public final class Initializer {
  private Initializer() {}

  /** Initialises every tensor of {@code params} from its layout's specs. */
  public static void initialize(FlatTensors params, long seed) {
    SplittableRandom rng = new SplittableRandom(seed);
    for (ParameterSpec spec : params.layout().specs()) {
      fill(params, spec, rng);
    }
  }

  /** Initialises the one tensor {@code spec} of {@code params} from {@code rng}. */
  public static void fill(FlatTensors params, ParameterSpec spec, SplittableRandom rng) {
    double[] values = new double[Math.toIntExact(spec.size())];
    spec.init().fill(values, rng);
    params.get(spec.name()).array().assign(Nd4j.createFromArray(values).reshape(spec.shape()).castTo(params.flat().dataType()));
  }
}
