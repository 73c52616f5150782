package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URISyntaxException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptModel;

/** Checkpoints written by earlier versions stay loadable and compute the same outputs. */
class GoldenCheckpointTest {

  @Test
  void formatVersion1TinyModel() throws Exception {
    Path dir = resource("golden/v1-tiny");
    ModelCheckpoint.Loaded loaded = ModelCheckpoint.load(dir, new ModelOptions(DataType.FLOAT, 1));
    GptModel m = loaded.model();
    assertEquals(GoldenCheckpoints.CONFIG, m.config());
    assertEquals("random-init", loaded.provenance().trainer());
    assertEquals(2026, loaded.provenance().seed());
    assertEquals(1.5, loaded.extra().get("gain"));
    assertEquals("byte-level(259)", loaded.tokenizer().get().describe());
    JsonNode expected = new ObjectMapper().readTree(dir.resolve("expected.json").toFile());
    double[] logits = m.forward(GoldenCheckpoints.INPUT).logits().castTo(DataType.DOUBLE).reshape(2 * 5 * 259).toDoubleVector();
    double[] want = new double[logits.length];
    for (int i = 0; i < want.length; i++) {
      want[i] = expected.get("logits").get(i).asDouble();
    }
    assertArrayEquals(want, logits, 1e-4);
    double[] values = m.forward(GoldenCheckpoints.INPUT).values().castTo(DataType.DOUBLE).reshape(10).toDoubleVector();
    for (int i = 0; i < 10; i++) {
      assertEquals(expected.get("values").get(i).asDouble(), values[i], 1e-4);
    }
  }

  private static Path resource(String name) throws URISyntaxException {
    return Path.of(GoldenCheckpointTest.class.getClassLoader().getResource(name).toURI());
  }
}
