package org.rlhf4j.core.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.sft.SequenceBatch;
import org.rlhf4j.core.sft.TokenizedSequence;
import org.rlhf4j.core.testing.GradientCheck;
import org.rlhf4j.core.train.SequenceLogProbs.Reduction;

/** Summed and mean response log-probabilities: hand-computed values and gradients through the model in double. */
class SequenceLogProbsTest {

  @Test
  void reducesOverTargetsOnly() {
    INDArray logp = Nd4j.createFromArray(new double[][] {{-1, -2, -3}, {-0.5, -0.25, -4}});
    INDArray mask = Nd4j.createFromArray(new float[][] {{0, 1, 1}, {1, 0, 0}});
    assertArrayEquals(new double[] {-5, -0.5}, SequenceLogProbs.reduce(logp, mask, Reduction.SUM), 1e-12);
    assertArrayEquals(new double[] {-2.5, -0.5}, SequenceLogProbs.reduce(logp, mask, Reduction.MEAN), 1e-12);
    INDArray gSum = SequenceLogProbs.gradient(new double[] {2, -1}, mask, Reduction.SUM);
    assertArrayEquals(new double[] {0, 2, 2, -1, 0, 0}, gSum.reshape(6).toDoubleVector(), 1e-12);
    INDArray gMean = SequenceLogProbs.gradient(new double[] {2, -1}, mask, Reduction.MEAN);
    assertArrayEquals(new double[] {0, 1, 1, -1, 0, 0}, gMean.reshape(6).toDoubleVector(), 1e-12);
  }

  @Test
  void rejectsRowsWithoutTargetsAndShapeMismatch() {
    INDArray logp = Nd4j.createFromArray(new double[][] {{-1, -2}});
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> SequenceLogProbs.reduce(logp, Nd4j.zeros(1, 2), Reduction.SUM));
    assertTrue(e.getMessage().contains("row 0 has no target"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> SequenceLogProbs.reduce(logp, Nd4j.ones(1, 3), Reduction.SUM));
    assertTrue(e.getMessage().contains("differ in shape"), e.getMessage());
  }

  @Test
  void gradientThroughTheModelMatchesFiniteDifferences() {
    GptConfig c = GptConfig.builder().vocabSize(11).dModel(8).heads(2).layers(1).contextLength(8).build();
    for (Reduction reduction : Reduction.values()) {
      GptModel model = GptModel.randomInit(c, 3, new ModelOptions(DataType.DOUBLE, 2));
      Random r = new Random(5);
      model.parameters().flat().array().addi(Nd4j.randn(DataType.DOUBLE, model.parameters().flat().array().shape()).muli(0.3));
      SequenceBatch batch = SequenceBatch.collate(
          List.of(
              new TokenizedSequence(new int[] {1, 2, 3, 4, 5}, new int[] {0, 0, 1, 1, 1}),
              new TokenizedSequence(new int[] {6, 7, 8}, new int[] {0, 1, 1}),
              new TokenizedSequence(new int[] {9, 1, 2, 3, 10, 4}, new int[] {0, 0, 0, 0, 1, 1})),
          0);
      double[] coef = {r.nextGaussian(), r.nextGaussian(), r.nextGaussian()};
      model.zeroGradients();
      SequenceLogProbs.Pass pass = SequenceLogProbs.forward(model, batch, reduction);
      pass.backward(coef);
      assertThrows(IllegalStateException.class, () -> pass.backward(coef), "backward twice");
      for (ParameterLayout.Entry e : model.parameters().layout().entries()) {
        INDArray param = model.parameters().get(e.name()).array();
        INDArray grad = model.gradients().get(e.name()).array().dup();
        GradientCheck.assertMatches(reduction + " " + e.name(), param, grad, () -> {
          double[] v = SequenceLogProbs.compute(model, batch, reduction);
          return coef[0] * v[0] + coef[1] * v[1] + coef[2] * v[2];
        }, 1e-5);
      }
    }
  }
}
