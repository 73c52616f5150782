package org.rlhf4j.core.model;

import java.util.SplittableRandom;
import org.nd4j.linalg.factory.Nd4j;

/**
 * GPT-2's initialisation: N(0, 0.02) for embeddings and weight matrices, with the residual
 * projections ({@code attn.c_proj}, {@code mlp.c_proj}) scaled by {@code 1/sqrt(2 * layers)}; zero
 * biases; LayerNorm gains 1. The scalar head gets N(0, 1/sqrt(d + 1)) weights and bias 0 (as in the
 * InstructGPT reward model). Uses Java's {@link SplittableRandom}, so a seed gives the same weights
 * on every platform and backend.
 */
final class Initializer {
  private Initializer() {}

  static void initialize(FlatTensors params, GptConfig c, long seed) {
    SplittableRandom rng = new SplittableRandom(seed);
    double projStd = 0.02 / Math.sqrt(2.0 * c.layers());
    for (ParameterLayout.Entry e : params.layout().entries()) {
      String name = e.name();
      double[] values = new double[Math.toIntExact(e.size())];
      if (name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name.equals("ln_f.weight")) {
        java.util.Arrays.fill(values, 1.0);
      } else if (name.equals("scalar_head.weight")) {
        fillNormal(values, rng, 1.0 / Math.sqrt(c.dModel() + 1.0));
      } else if (name.endsWith("c_proj.weight")) {
        fillNormal(values, rng, projStd);
      } else if (e.decay()) {
        fillNormal(values, rng, 0.02);
      }
      params.get(name).array().assign(Nd4j.createFromArray(values).reshape(e.shape()).castTo(params.flat().dataType()));
    }
  }

  private static void fillNormal(double[] v, SplittableRandom rng, double std) {
    for (int i = 0; i < v.length; i++) {
      v[i] = rng.nextGaussian() * std;
    }
  }
}
