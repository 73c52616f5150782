package org.rlhf4j.core.model.gpt2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;

/**
 * GPT-2's parameter table reproduces, bit for bit, the layout and initial values of the code it
 * replaced (a hand-written name list and an initialiser that matched name suffixes), so checkpoints
 * and seeded runs are unchanged.
 */
class GptParameterTableTest {
  private static final GptConfig C =
      GptConfig.builder().vocabSize(11).dModel(8).heads(2).layers(2).contextLength(6).scalarHead(true).build();

  /** The layout as the former {@code ParameterLayout.of(GptConfig)} built it: names in buffer order. */
  private static List<String> formerOrder(GptConfig c) {
    List<String> decayed = new ArrayList<>(List.of("wte", "wpe"));
    List<String> plain = new ArrayList<>();
    for (int l = 0; l < c.layers(); l++) {
      String p = "h." + l + ".";
      plain.addAll(List.of(p + "ln_1.weight", p + "ln_1.bias"));
      decayed.add(p + "attn.c_attn.weight");
      plain.add(p + "attn.c_attn.bias");
      decayed.add(p + "attn.c_proj.weight");
      plain.addAll(List.of(p + "attn.c_proj.bias", p + "ln_2.weight", p + "ln_2.bias"));
      decayed.add(p + "mlp.c_fc.weight");
      plain.add(p + "mlp.c_fc.bias");
      decayed.add(p + "mlp.c_proj.weight");
      plain.add(p + "mlp.c_proj.bias");
    }
    plain.addAll(List.of("ln_f.weight", "ln_f.bias"));
    decayed.add("scalar_head.weight");
    plain.add("scalar_head.bias");
    decayed.addAll(plain);
    return decayed;
  }

  @Test
  void layoutKeepsTheFormerOrderAndDecayGroup() {
    ParameterLayout l = C.layout();
    assertEquals(formerOrder(C), l.entries().stream().map(ParameterLayout.Entry::name).toList());
    assertArrayEquals(new long[] {8, 24}, l.entry("h.1.attn.c_attn.weight").shape());
    assertArrayEquals(new long[] {32, 8}, l.entry("h.0.mlp.c_proj.weight").shape());
    long decayed = 11 * 8 + 6 * 8 + 2 * (8 * 24 + 8 * 8 + 8 * 32 + 32 * 8) + 8;
    assertEquals(decayed, l.decaySize());
    assertEquals(C.parameterCount(), l.totalSize());
  }

  @Test
  void randomInitEqualsTheFormerSuffixMatchingInitializer() {
    try (GptModel m = GptModel.randomInit(C, 42, new ModelOptions(DataType.FLOAT, 1))) {
      SplittableRandom rng = new SplittableRandom(42);
      double projStd = 0.02 / Math.sqrt(2.0 * C.layers());
      for (ParameterLayout.Entry e : m.parameters().layout().entries()) {
        String name = e.name();
        double[] values = new double[Math.toIntExact(e.size())];
        if (name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name.equals("ln_f.weight")) {
          Arrays.fill(values, 1.0);
        } else if (name.equals("scalar_head.weight")) {
          fillNormal(values, rng, 1.0 / Math.sqrt(C.dModel() + 1.0));
        } else if (name.endsWith("c_proj.weight")) {
          fillNormal(values, rng, projStd);
        } else if (e.decay()) {
          fillNormal(values, rng, 0.02);
        }
        float[] want = new float[values.length];
        for (int i = 0; i < values.length; i++) {
          want[i] = (float) values[i];
        }
        float[] got = m.parameters().get(name).array().dup().reshape(e.size()).toFloatVector();
        assertArrayEquals(want, got, 0f, name);
      }
    }
  }

  @Test
  void newScalarHeadEqualsTheFormerDraws() {
    GptConfig plain = C.toBuilder().scalarHead(false).build();
    try (GptModel m = GptModel.randomInit(plain, 1, new ModelOptions(DataType.DOUBLE, 1));
        GptModel headed = m.withNewScalarHead(9);
        GptModel value = m.withNewValueHead()) {
      SplittableRandom rng = new SplittableRandom(9);
      double std = 1.0 / Math.sqrt(C.dModel() + 1.0);
      double[] w = headed.parameters().get("scalar_head.weight").array().toDoubleVector();
      for (double v : w) {
        assertEquals(rng.nextGaussian() * std, v, 0.0);
      }
      assertEquals(0.0, headed.parameters().get("scalar_head.bias").array().getDouble(0));
      assertEquals(0.0, value.parameters().get("scalar_head.weight").array().amaxNumber().doubleValue());
      assertArrayEquals(m.parameters().get("wte").array().toDoubleMatrix(), headed.parameters().get("wte").array().toDoubleMatrix());
    }
  }

  private static void fillNormal(double[] v, SplittableRandom rng, double std) {
    for (int i = 0; i < v.length; i++) {
      v[i] = rng.nextGaussian() * std;
    }
  }
}
