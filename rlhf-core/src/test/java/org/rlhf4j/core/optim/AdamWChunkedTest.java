package org.rlhf4j.core.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;

/**
 * The update split over a model's threads (chunks of the flat buffers, each with its share of the
 * weight-decayed prefix) equals the one-thread update, with clipping active, over several steps.
 */
class AdamWChunkedTest {

  @Test
  void chunkedUpdateEqualsSingleThreadUpdate() {
    // > 2 * 65536 parameters, so three threads cut the buffers into three chunks.
    GptConfig c = GptConfig.builder().vocabSize(64).dModel(96).heads(2).layers(2).contextLength(8).build();
    AdamWConfig cfg = AdamWConfig.builder().learningRate(1e-2).weightDecay(0.1).maxGradNorm(0.5).build();
    try (GptModel one = GptModel.randomInit(c, 1, new ModelOptions(DataType.DOUBLE, 1));
        GptModel three = one.copy(new ModelOptions(DataType.DOUBLE, 3));
        AdamW o1 = new AdamW(cfg, one);
        AdamW o3 = new AdamW(cfg, three)) {
      assertTrue(one.parameters().flat().length() >= 3 * 65536, "model large enough to split in three");
      Random r = new Random(7);
      for (int step = 0; step < 3; step++) {
        INDArray g = one.gradients().flat().array();
        for (long i = 0; i < g.length(); i++) {
          g.putScalar(i, r.nextGaussian());
        }
        three.gradients().flat().array().assign(g);
        StepOutcome a = o1.step(1.0);
        StepOutcome b = o3.step(1.0);
        assertTrue(a.clipped() && b.clipped(), "clipping active");
        assertEquals(a.gradNorm(), b.gradNorm(), 1e-9 * a.gradNorm());
        INDArray pa = one.parameters().flat().array();
        INDArray pb = three.parameters().flat().array();
        assertEquals(0.0, pa.sub(pb).amaxNumber().doubleValue(), 1e-12, "step " + step);
      }
    }
  }
}
