package org.rlhf4j.core.model.gpt2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ModelFamily;
import org.rlhf4j.core.model.ModelOptions;

/** GPT-2 is registered as a {@link ModelFamily}, and {@link ModelCheckpoint#loadAny} reads its checkpoints. */
class Gpt2FamilyTest {
  private static final ModelOptions OPTIONS = new ModelOptions(DataType.FLOAT, 1);

  @Test
  void theFamilyBuildsAModelFromItsConfigMap() {
    GptConfig c = GptConfig.builder().vocabSize(9).dModel(8).heads(2).layers(1).contextLength(5).scalarHead(true).build();
    ModelFamily f = ModelFamily.find("gpt2").orElseThrow();
    try (CausalLm m = f.uninitialized(c.toMap(), "test", OPTIONS)) {
      assertEquals(c, ((GptModel) m).config());
      assertEquals(0.0, m.parameters().flat().array().amaxNumber().doubleValue());
    }
    RuntimeException bad = assertThrows(RuntimeException.class, () -> f.uninitialized(Map.of("vocab_size", 9), "cfg.json", OPTIONS));
    assertTrue(bad.getMessage().contains("cfg.json"), bad.getMessage());
    assertTrue(ModelFamily.find("no-such-family").isEmpty());
  }

  @Test
  void loadAnyReadsAGptCheckpoint(@TempDir Path tmp) {
    GptConfig c = GptConfig.builder().vocabSize(9).dModel(8).heads(2).layers(1).contextLength(5).build();
    try (GptModel m = GptModel.randomInit(c, 3, OPTIONS)) {
      ModelCheckpoint.save(tmp.resolve("m"), m, Provenance.of("test", 3, Map.of(), null), Map.of("kind", "policy"), null);
      ModelCheckpoint.LoadedLm l = ModelCheckpoint.loadAny(tmp.resolve("m"), OPTIONS);
      try (CausalLm back = l.model()) {
        assertInstanceOf(GptModel.class, back);
        assertEquals("policy", l.extra().get("kind"));
        assertArrayEquals(m.parameters().flat().array().toFloatVector(), back.parameters().flat().array().toFloatVector(), 0f);
      }
    }
  }
}
