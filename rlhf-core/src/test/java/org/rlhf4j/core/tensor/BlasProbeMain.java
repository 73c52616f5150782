package org.rlhf4j.core.tensor;

import java.util.Arrays;
import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.sft.SftLoss;

/**
 * Run in a child JVM by {@link BlasLibraryTest} (the BLAS library is chosen once per process): prints
 * the library decision, the start-up check, the BLAS description and the exact losses of a few
 * training steps of a small GPT on two threads, one per line.
 */
public final class BlasProbeMain {
  private BlasProbeMain() {}

  public static void main(String[] args) {
    System.out.println("decision=" + CpuBackend.configure());
    System.out.println("validation=" + Blas.validation());
    System.out.println("description=" + CpuBackend.blasDescription().orElse("none"));
    GptConfig c = GptConfig.builder().vocabSize(64).dModel(64).heads(4).layers(2).contextLength(32).build();
    try (GptModel m = GptModel.randomInit(c, 3, new ModelOptions(DataType.FLOAT, 2));
        AdamW opt = new AdamW(AdamWConfig.builder().learningRate(1e-3).build(), m)) {
      Random r = new Random(5);
      int[][] rows = new int[2][c.contextLength()];
      for (int[] row : rows) {
        Arrays.setAll(row, i -> r.nextInt(c.vocabSize()));
      }
      TokenBatch tokens = TokenBatch.unpadded(rows);
      INDArray mask = Nd4j.ones(DataType.FLOAT, 2, c.contextLength() - 1);
      StringBuilder losses = new StringBuilder();
      for (int step = 0; step < 3; step++) {
        m.zeroGradients();
        ForwardPass p = m.forward(tokens);
        SftLoss.Result loss = SftLoss.compute(p.tokenLogProbs(1.0).logProbs(), mask);
        p.backward(OutputGradients.ofLogProbs(loss.gradLogProbs()));
        opt.step(loss.loss());
        losses.append(step == 0 ? "" : ",").append(Double.doubleToRawLongBits(loss.loss()));
      }
      System.out.println("losses=" + losses);
    }
  }
}
