package org.rlhf4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.rlhf4j.core.model.gpt2.GptConfig;

/** The FLOP count behind {@code Benchmark}'s "fraction of the GEMM rate", against hand counts. */
class BenchmarkFlopsTest {

  /** Sums 2 m k n over every product of a training step of the GPT (forward; the backward is two of each). */
  private static double productFlops(int vocab, int d, int layers, int batch, int t) {
    double n = (double) batch * t; // rows
    double forward = 0;
    for (int l = 0; l < layers; l++) {
      forward += 2 * n * d * (3 * d); // c_attn [n, d] x [d, 3d]
      forward += 2 * n * d * d; // attn.c_proj
      forward += 2 * n * d * (4 * d); // mlp.c_fc
      forward += 2 * n * (4 * d) * d; // mlp.c_proj
      forward += batch * 2.0 * t * t * d; // q k^T over all heads: [T, dh] x [dh, T] per head, unmasked
      forward += batch * 2.0 * t * t * d; // P v: [T, T] x [T, dh] per head
    }
    forward += 2 * n * d * vocab; // tied LM head
    return 3 * forward; // backward: an input gradient and a weight gradient per product
  }

  @Test
  void mediumStepIsItsProductsFlops() {
    GptConfig medium = GptConfig.builder().vocabSize(256).dModel(256).heads(8).layers(8).contextLength(128).build();
    // 3 x (12,884,901,888 blocks' weights + 1,073,741,824 attention + 134,217,728 head)
    assertEquals(42_278_584_320.0, Benchmark.trainFlops(medium, 8, 128), 0.5);
    assertEquals(productFlops(256, 256, 8, 8, 128), Benchmark.trainFlops(medium, 8, 128), 0.5);
  }

  @Test
  void otherShapesMatchTheProductCount() {
    GptConfig small = GptConfig.builder().vocabSize(256).dModel(128).heads(4).layers(4).contextLength(64).build();
    assertEquals(productFlops(256, 128, 4, 16, 64), Benchmark.trainFlops(small, 16, 64), 0.5);
    GptConfig odd = GptConfig.builder().vocabSize(1000).dModel(96).heads(3).layers(3).contextLength(40).build();
    assertEquals(productFlops(1000, 96, 3, 5, 40), Benchmark.trainFlops(odd, 5, 40), 0.5);
  }
}
