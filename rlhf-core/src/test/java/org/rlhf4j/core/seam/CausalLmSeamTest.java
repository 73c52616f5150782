package org.rlhf4j.core.seam;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.TokenLogProbs;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.testing.GradientCheck;

/**
 * A model family written outside {@code org.rlhf4j.core.model} ({@link BigramLm}) plugs into the
 * library through {@link CausalLm} alone: its gradients pass the same finite-difference check as
 * GPT-2's, {@link AdamW} trains it through {@link CausalLm#trainable()}, {@link Generator} samples
 * from it, and {@link ModelCheckpoint} saves and reloads it.
 */
class CausalLmSeamTest {
  private static final ModelOptions DOUBLE = new ModelOptions(DataType.DOUBLE, 1);
  private static final TokenBatch BATCH =
      TokenBatch.of(2, 4, new int[] {1, 2, 3, 0, 4, 1, 1, 2}, new int[] {1, 1, 1, 0, 1, 1, 1, 1});

  /** A loss mixing every output, with fixed random weights. */
  private static double loss(CausalLm m, INDArray wl, INDArray we, INDArray wv, INDArray wz) {
    ForwardPass p = m.forward(BATCH);
    TokenLogProbs lp = p.tokenLogProbs(0.7);
    return lp.logProbs().mul(wl).sumNumber().doubleValue()
        + lp.entropy().mul(we).sumNumber().doubleValue()
        + p.values().mul(wv).sumNumber().doubleValue()
        + p.logits().mul(wz).sumNumber().doubleValue();
  }

  @Test
  void gradientsOfEveryOutputMatchFiniteDifferences() {
    Nd4j.getRandom().setSeed(3);
    INDArray wl = Nd4j.rand(DataType.DOUBLE, 2, 3).subi(0.5);
    INDArray we = Nd4j.rand(DataType.DOUBLE, 2, 3).subi(0.5);
    INDArray wv = Nd4j.rand(DataType.DOUBLE, 2, 4).subi(0.5);
    INDArray wz = Nd4j.rand(DataType.DOUBLE, 2, 4, 5).subi(0.5);
    try (CausalLm m = new BigramLm(5, 8, false, DOUBLE, 1).withNewScalarHead(2)) {
      m.zeroGradients();
      ForwardPass p = m.forward(BATCH);
      p.tokenLogProbs(0.7);
      p.backward(new OutputGradients(wl, we, wv, wz));
      for (String name : List.of("emb", "head.w", "head.b")) {
        INDArray analytic = m.gradients().get(name).array().dup();
        GradientCheck.assertMatches(name, m.parameters().get(name).array(), analytic, () -> loss(m, wl, we, wv, wz), 1e-6);
      }
    }
  }

  @Test
  void adamWTrainsItAndTheGeneratorSamplesFromIt() {
    try (CausalLm m = new BigramLm(5, 16, false, DOUBLE, 7);
        AdamW opt = new AdamW(AdamWConfig.builder().learningRate(0.1).weightDecay(0).build(), m)) {
      TokenBatch cycle = TokenBatch.unpadded(new int[][] {{0, 1, 2, 3, 4, 0, 1, 2, 3, 4}});
      double before = meanLogProb(m, cycle);
      for (int step = 0; step < 60; step++) { // teach "i is followed by i+1 mod 5"
        m.zeroGradients();
        ForwardPass p = m.forward(cycle);
        TokenLogProbs lp = p.tokenLogProbs(1.0);
        p.backward(OutputGradients.ofLogProbs(Nd4j.ones(DataType.DOUBLE, 1, 9).muli(-1.0 / 9)));
        assertTrue(opt.step(-lp.logProbs().meanNumber().doubleValue()).applied());
      }
      double after = meanLogProb(m, cycle);
      assertTrue(after > -0.1 && after > before + 1, "mean log-prob of the cycle " + before + " -> " + after);
      SamplingConfig greedy = SamplingConfig.builder().greedy(true).maxNewTokens(6).build();
      Generation g = Generator.generate(m, List.of(new int[] {2}, new int[] {4, 0}), greedy, 1, 0);
      assertArrayEquals(new int[] {3, 4, 0, 1, 2, 3}, g.response(0));
      assertArrayEquals(new int[] {1, 2, 3, 4, 0, 1}, g.response(1));
    }
  }

  private static double meanLogProb(CausalLm m, TokenBatch b) {
    return m.forward(b).tokenLogProbs(1.0).logProbs().meanNumber().doubleValue();
  }

  @Test
  void checkpointsSaveAndReloadAnotherArchitecture(@TempDir Path tmp) {
    Path dir = tmp.resolve("bigram");
    try (CausalLm m = new BigramLm(5, 8, true, DOUBLE, 4);
        CausalLm other = new BigramLm(5, 8, true, DOUBLE, 5);
        CausalLm wider = new BigramLm(6, 8, true, DOUBLE, 5)) {
      ModelCheckpoint.save(dir, m, Provenance.of("test", 4, Map.of(), null), Map.of(), null);
      ModelCheckpoint.loadInto(dir, other);
      assertArrayEquals(m.parameters().flat().array().toDoubleVector(), other.parameters().flat().array().toDoubleVector(), 0.0);
      CheckpointException mismatch = assertThrows(CheckpointException.class, () -> ModelCheckpoint.loadInto(dir, wider));
      assertTrue(mismatch.getMessage().contains("differs"), mismatch.getMessage());
      CheckpointException gpt = assertThrows(CheckpointException.class, () -> ModelCheckpoint.load(dir, DOUBLE));
      assertTrue(gpt.getMessage().contains("bigram") && gpt.getMessage().contains("loadAny"), gpt.getMessage());
      ModelCheckpoint.LoadedLm any = ModelCheckpoint.loadAny(dir, DOUBLE); // found through META-INF/services
      try (CausalLm back = any.model()) {
        assertEquals("bigram", back.architecture());
        assertTrue(back.hasScalarHead());
        assertEquals("test", any.provenance().trainer());
        assertArrayEquals(m.parameters().flat().array().toDoubleVector(), back.parameters().flat().array().toDoubleVector(), 0.0);
      }
    }
  }

  @Test
  void anUnregisteredArchitectureIsRefusedByName(@TempDir Path tmp) {
    Path dir = tmp.resolve("unknown");
    try (CausalLm m =
        new BigramLm(3, 4, false, DOUBLE, 1) {
          @Override
          public String architecture() {
            return "mamba-x";
          }
        }) {
      ModelCheckpoint.save(dir, m, Provenance.of("test", 1, Map.of(), null), Map.of(), null);
    }
    CheckpointException e = assertThrows(CheckpointException.class, () -> ModelCheckpoint.loadAny(dir, DOUBLE));
    assertTrue(e.getMessage().contains("mamba-x") && e.getMessage().contains("registered"), e.getMessage());
  }

  @Test
  void useAfterCloseAndStalePassesThrow() {
    CausalLm m = new BigramLm(5, 8, false, DOUBLE, 1);
    ForwardPass first = m.forward(BATCH);
    m.forward(BATCH);
    assertThrows(IllegalStateException.class, first::logits);
    m.close();
    assertTrue(m.isClosed());
    assertThrows(IllegalStateException.class, m::parameters);
    assertEquals("bigram", m.architecture());
  }
}
