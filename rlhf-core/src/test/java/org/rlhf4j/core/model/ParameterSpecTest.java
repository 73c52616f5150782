package org.rlhf4j.core.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.ParameterSpec.Init;

/** The parameter table: the layout and the initial values derived from it. */
class ParameterSpecTest {
  private static final List<ParameterSpec> TABLE =
      List.of(
          ParameterSpec.plain("norm.weight", Init.ones(), 3),
          ParameterSpec.decayed("emb", Init.normal(0.5), 4, 3),
          ParameterSpec.plain("bias", Init.zeros(), 2),
          ParameterSpec.decayed("proj", Init.normal(0.1), 3, 2));

  @Test
  void layoutPutsDecayedTensorsFirstInTableOrder() {
    ParameterLayout l = ParameterLayout.of(TABLE);
    assertEquals(List.of("emb", "proj", "norm.weight", "bias"), l.entries().stream().map(ParameterLayout.Entry::name).toList());
    assertEquals(List.of(0L, 12L, 18L, 21L), l.entries().stream().map(ParameterLayout.Entry::offset).toList());
    assertEquals(23, l.totalSize());
    assertEquals(18, l.decaySize());
    assertEquals(TABLE.get(3), l.spec("proj"));
    assertArrayEquals(new long[] {3, 2}, l.entry("proj").shape());
  }

  @Test
  void initialValuesFollowTheSpecsAndTheSeed() {
    try (FlatTensors a = FlatTensors.zeros(ParameterLayout.of(TABLE), DataType.DOUBLE);
        FlatTensors b = FlatTensors.zeros(ParameterLayout.of(TABLE), DataType.DOUBLE);
        FlatTensors c = FlatTensors.zeros(ParameterLayout.of(TABLE), DataType.DOUBLE)) {
      Initializer.initialize(a, 11);
      Initializer.initialize(b, 11);
      Initializer.initialize(c, 12);
      assertArrayEquals(a.flat().array().toDoubleVector(), b.flat().array().toDoubleVector(), "same seed, same values");
      assertTrue(a.get("emb").array().sub(c.get("emb").array()).amaxNumber().doubleValue() > 0, "another seed, other values");
      assertEquals(3.0, a.get("norm.weight").array().sumNumber().doubleValue(), "ones");
      assertEquals(0.0, a.get("bias").array().amaxNumber().doubleValue(), "zeros");
      // the draws: emb first (12 values of std 0.5), then proj (6 of std 0.1), from one generator
      SplittableRandom rng = new SplittableRandom(11);
      double[] emb = a.get("emb").array().dup().reshape(12).toDoubleVector();
      for (double v : emb) {
        assertEquals(rng.nextGaussian() * 0.5, v, 0.0);
      }
      double[] proj = a.get("proj").array().dup().reshape(6).toDoubleVector();
      for (double v : proj) {
        assertEquals(rng.nextGaussian() * 0.1, v, 0.0);
      }
    }
  }

  @Test
  void badTablesAreRefusedNamingTheTensor() {
    IllegalArgumentException dup =
        assertThrows(
            IllegalArgumentException.class,
            () -> ParameterLayout.of(List.of(ParameterSpec.plain("w", Init.zeros(), 2), ParameterSpec.decayed("w", Init.zeros(), 2))));
    assertTrue(dup.getMessage().contains("twice") && dup.getMessage().contains("w"), dup.getMessage());
    IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> ParameterSpec.plain("h.0.b", Init.zeros(), 3, 0));
    assertTrue(shape.getMessage().contains("h.0.b") && shape.getMessage().contains("[3, 0]"), shape.getMessage());
    IllegalArgumentException std = assertThrows(IllegalArgumentException.class, () -> Init.normal(Double.NaN));
    assertTrue(std.getMessage().contains("NaN"), std.getMessage());
    assertThrows(IllegalArgumentException.class, () -> ParameterLayout.of(List.of()));
  }

  @Test
  void shapesAreCopiedDefensively() {
    long[] shape = {2, 3};
    ParameterSpec s = ParameterSpec.decayed("w", Init.zeros(), shape);
    shape[0] = 7;
    s.shape()[1] = 9;
    assertArrayEquals(new long[] {2, 3}, s.shape());
    assertEquals(6, s.size());
  }

  @Test
  void aTrainableGroupNeedsGradientsLaidOutLikeItsParameters() {
    try (FlatTensors p = FlatTensors.zeros(ParameterLayout.of(TABLE), DataType.FLOAT);
        FlatTensors g = FlatTensors.zeros(ParameterLayout.of(TABLE.subList(0, 2)), DataType.FLOAT);
        FlatTensors gd = FlatTensors.zeros(ParameterLayout.of(TABLE), DataType.DOUBLE)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Trainable("adapter", p, g, 1));
      assertTrue(e.getMessage().contains("adapter") && e.getMessage().contains("laid out"), e.getMessage());
      IllegalArgumentException t = assertThrows(IllegalArgumentException.class, () -> new Trainable("adapter", p, gd, 1));
      assertTrue(t.getMessage().contains("DOUBLE"), t.getMessage());
    }
  }
}
