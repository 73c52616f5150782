package org.rlhf4j.core.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.AdamWConfig;

/**
 * Every closeable type refuses use after {@code close()} with an {@link IllegalStateException}
 * before any native memory is touched (before the checks, these crashed the JVM in libnd4jcpu).
 */
class UseAfterCloseTest {
  private static GptModel model() {
    GptConfig c = GptConfig.builder().vocabSize(7).dModel(8).heads(2).layers(1).contextLength(8).scalarHead(true).build();
    return GptModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, 1));
  }

  private static final TokenBatch BATCH = TokenBatch.leftPadded(List.of(new int[] {1, 2, 3}), 0);

  private static void refused(Executable use) {
    IllegalStateException e = assertThrows(IllegalStateException.class, use);
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
  }

  @Test
  void aClosedModelRefusesEveryUse() {
    GptModel m = model();
    ForwardPass pass = m.forward(BATCH);
    m.close();
    m.close(); // idempotent
    assertTrue(m.isClosed());
    refused(() -> m.forward(BATCH));
    refused(m::parameters);
    refused(m::gradients);
    refused(m::zeroGradients);
    refused(() -> m.copy(m.options()));
    refused(m::withNewValueHead);
    refused(() -> m.newDecodeSession(1, 4));
    refused(pass::logits);
    refused(() -> pass.tokenLogProbs(1.0));
    refused(() -> Generator.generate(m, List.of(new int[] {1}), SamplingConfig.builder().maxNewTokens(2).build(), 1, 0));
  }

  @Test
  void aClosedDecodeSessionOrOneOfAClosedModelRefusesToStep() {
    GptModel m = model();
    DecodeSession s = m.newDecodeSession(1, 6);
    s.prefill(BATCH);
    s.close();
    s.close();
    refused(() -> s.step(new int[] {1}));
    DecodeSession t = m.newDecodeSession(1, 6);
    t.prefill(BATCH);
    m.close(); // the session reads the model's weights
    refused(() -> t.step(new int[] {1}));
    t.close();
  }

  @Test
  void aClosedOptimiserOrTensorsRefuseUse() {
    GptModel m = model();
    AdamW opt = new AdamW(AdamWConfig.builder().build(), m);
    opt.close();
    opt.close();
    refused(opt::step);
    refused(() -> opt.firstMoments(0));
    FlatTensors f = FlatTensors.zeros(m.parameters().layout(), DataType.FLOAT);
    f.close();
    refused(f::flat);
    refused(() -> f.get("wte"));
    refused(f::zero);
    m.close();
  }
}
