package org.rlhf4j.core.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.Initializer;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.ParameterSpec;
import org.rlhf4j.core.model.ParameterSpec.Init;
import org.rlhf4j.core.model.Trainable;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;

/**
 * AdamW works on named parameter groups, not on a model class: an adapter's own tensors (as LoRA
 * would hand it) are updated exactly as AdamW prescribes, decay only on the group's decayed
 * tensors, and nothing else moves.
 */
class AdamWTrainableTest {
  @Test
  void onlyTheAdapterGroupIsUpdatedWithAdamWsFirstStep() {
    GptConfig c = GptConfig.builder().vocabSize(7).dModel(8).heads(2).layers(1).contextLength(8).build();
    ParameterLayout adapterLayout =
        ParameterLayout.of(
            List.of(ParameterSpec.decayed("lora.A", Init.normal(0.3), 8, 2), ParameterSpec.plain("lora.scale", Init.ones(), 2)));
    double lr = 0.01;
    double wd = 0.1;
    double eps = 1e-8;
    try (GptModel model = GptModel.randomInit(c, 3, new ModelOptions(DataType.DOUBLE, 1));
        FlatTensors params = FlatTensors.zeros(adapterLayout, DataType.DOUBLE);
        FlatTensors grads = FlatTensors.zeros(adapterLayout, DataType.DOUBLE);
        AdamW opt =
            new AdamW(
                AdamWConfig.builder().learningRate(lr).weightDecay(wd).eps(eps).maxGradNorm(0).build(),
                new Trainable("adapter", params, grads, 2))) {
      Initializer.initialize(params, 5);
      double[] g = new double[(int) adapterLayout.totalSize()];
      for (int i = 0; i < g.length; i++) {
        g[i] = (i % 3 - 1) * 0.5 + 0.01 * i;
      }
      grads.flat().array().assign(Nd4j.createFromArray(g));
      double[] before = params.flat().array().toDoubleVector();
      double[] modelBefore = model.parameters().flat().array().toDoubleVector();
      model.gradients().flat().array().assign(1.0); // the model's gradients are not the optimiser's business

      StepOutcome o = opt.step(1.0);

      assertTrue(o.applied());
      assertEquals(1, opt.groups().size());
      double[] after = params.flat().array().toDoubleVector();
      for (int i = 0; i < g.length; i++) {
        // first step: m_hat = g, v_hat = g^2; decoupled decay on the decayed prefix (lora.A, 16 values)
        double decayed = i < 16 ? before[i] * (1 - lr * wd) : before[i];
        double want = decayed - lr * g[i] / (Math.abs(g[i]) + eps);
        assertEquals(want, after[i], 1e-12, "element " + i);
      }
      assertArrayEquals(modelBefore, model.parameters().flat().array().toDoubleVector(), 0.0, "the model was not in the group");
      assertEquals(adapterLayout.totalSize(), opt.firstMoments(0).layout().totalSize());
    }
  }

  @Test
  void groupsShareOneClippingNorm() {
    ParameterLayout l = ParameterLayout.of(List.of(ParameterSpec.plain("w", Init.zeros(), 2)));
    try (FlatTensors p1 = FlatTensors.zeros(l, DataType.DOUBLE);
        FlatTensors g1 = FlatTensors.zeros(l, DataType.DOUBLE);
        FlatTensors p2 = FlatTensors.zeros(l, DataType.DOUBLE);
        FlatTensors g2 = FlatTensors.zeros(l, DataType.DOUBLE);
        AdamW opt =
            new AdamW(
                AdamWConfig.builder().learningRate(0.1).weightDecay(0).maxGradNorm(1.0).build(),
                List.of(new Trainable("a", p1, g1, 1), new Trainable("b", p2, g2, 1)))) {
      g1.flat().array().assign(3.0);
      g2.flat().array().assign(4.0); // global norm sqrt(2*9 + 2*16) = sqrt(50)
      StepOutcome o = opt.step(0.5);
      assertEquals(Math.sqrt(50), o.gradNorm(), 1e-12);
      assertTrue(o.clipped());
      assertEquals(3.0 / (Math.sqrt(50) + 1e-6), g1.get("w").array().getDouble(0), 1e-12, "clipped in place by the shared norm");
    }
  }
}
