package org.rlhf4j.core.model;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/** The checks every model family's backward pass runs on its output gradients. */
class OutputGradientsTest {

  @Test
  void acceptsMatchingShapesAndSaysWhetherTheLogitsGetAGradient() {
    assertTrue(OutputGradients.ofLogProbs(Nd4j.zeros(DataType.FLOAT, 2, 4)).check(2, 5, 7, true, false));
    assertFalse(OutputGradients.ofValues(Nd4j.zeros(DataType.FLOAT, 2, 5)).check(2, 5, 7, false, true));
  }

  @Test
  void refusesWrongShapesMissingLogProbsAndValuesWithoutAHead() {
    IllegalArgumentException shape =
        assertThrows(IllegalArgumentException.class, () -> OutputGradients.ofLogProbs(Nd4j.zeros(DataType.FLOAT, 2, 5)).check(2, 5, 7, true, false));
    assertTrue(shape.getMessage().contains("logProbs gradient has shape [2, 5], expected [2, 4]"), shape.getMessage());
    assertThrows(IllegalStateException.class, () -> OutputGradients.ofLogProbs(Nd4j.zeros(DataType.FLOAT, 2, 4)).check(2, 5, 7, false, false));
    assertThrows(IllegalStateException.class, () -> OutputGradients.ofValues(Nd4j.zeros(DataType.FLOAT, 2, 5)).check(2, 5, 7, false, false));
    assertThrows(
        IllegalArgumentException.class,
        () -> new OutputGradients(null, null, null, Nd4j.zeros(DataType.FLOAT, 2, 5, 8)).check(2, 5, 7, false, false));
  }
}
