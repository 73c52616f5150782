package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.Rlhf4j;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.ByteTokenizer;

class ModelCheckpointTest {
  private static final GptConfig CONFIG =
      GptConfig.builder().vocabSize(259).dModel(16).heads(2).layers(2).contextLength(16).scalarHead(true).build();

  @TempDir Path tmp;

  private static GptModel model() {
    return GptModel.randomInit(CONFIG, 11, new ModelOptions(DataType.FLOAT, 1));
  }

  @Test
  void roundTripKeepsWeightsConfigProvenanceExtraAndTokenizer() {
    GptModel m = model();
    Path dir = tmp.resolve("ckpt");
    Provenance p = Provenance.of("sft", 7, Map.of("learning_rate", 0.001), "parent-dir");
    ModelCheckpoint.save(dir, m, p, Map.of("gain", 2.5), ByteTokenizer.create());
    ModelCheckpoint.Loaded back = ModelCheckpoint.load(dir, new ModelOptions(DataType.FLOAT, 2));
    assertEquals(CONFIG, back.model().config());
    assertEquals(m.parameters().flat().array(), back.model().parameters().flat().array());
    assertEquals("sft", back.provenance().trainer());
    assertEquals(7, back.provenance().seed());
    assertEquals(0.001, back.provenance().config().get("learning_rate"));
    assertEquals("parent-dir", back.provenance().parent());
    assertEquals(Rlhf4j.VERSION, back.libraryVersion());
    assertEquals(2.5, back.extra().get("gain"));
    assertEquals(ByteTokenizer.create().describe(), back.tokenizer().get().describe());
    TokenBatch batch = TokenBatch.unpadded(new int[][] {{1, 2, 3, 4}});
    assertEquals(m.forward(batch).logits(), back.model().forward(batch).logits());
  }

  /** A metadata file claiming a 2e9-token vocabulary is refused from the header, before allocating. */
  @Test
  void aHugeConfigIsRefusedBeforeAllocating() throws IOException {
    Path dir = tmp.resolve("huge");
    ModelCheckpoint.save(dir, model(), Provenance.of("a", 1, Map.of(), null), Map.of(), null);
    Path meta = dir.resolve(ModelCheckpoint.META);
    String text = Files.readString(meta);
    String edited = text.replaceFirst("\"vocab_size\"\\s*:\\s*259", "\"vocab_size\" : 2000000000");
    assertTrue(!edited.equals(text), text);
    Files.writeString(meta, edited);
    CheckpointException e = assertThrows(CheckpointException.class, () -> ModelCheckpoint.load(dir, ModelOptions.defaults()));
    assertTrue(e.getMessage().contains("tensor wte has shape [259, 16], expected [2000000000, 16]"), e.getMessage());
  }

  @Test
  void loadsIntoDoublePrecision() {
    GptModel m = model();
    Path dir = tmp.resolve("c");
    ModelCheckpoint.save(dir, m, Provenance.of("random-init", 11, Map.of(), null), Map.of(), null);
    GptModel d = ModelCheckpoint.load(dir, new ModelOptions(DataType.DOUBLE, 1)).model();
    assertEquals(DataType.DOUBLE, d.dataType());
    assertEquals(0.0, d.parameters().flat().array().castTo(DataType.FLOAT).sub(m.parameters().flat().array()).amaxNumber().doubleValue(), 0.0);
  }

  @Test
  void replacingACheckpointLeavesNoTemporaryFiles() throws IOException {
    Path dir = tmp.resolve("c");
    ModelCheckpoint.save(dir, model(), Provenance.of("a", 1, Map.of(), null), Map.of(), null);
    ModelCheckpoint.save(dir, model(), Provenance.of("b", 2, Map.of(), null), Map.of(), null);
    assertEquals("b", ModelCheckpoint.load(dir, ModelOptions.defaults()).provenance().trainer());
    try (Stream<Path> s = Files.list(tmp)) {
      assertEquals(1, s.count(), "only the checkpoint directory remains");
    }
  }

  @Test
  void truncatedWeightsAreAClearError() throws IOException {
    Path dir = tmp.resolve("c");
    ModelCheckpoint.save(dir, model(), Provenance.of("a", 1, Map.of(), null), Map.of(), null);
    Path weights = dir.resolve("model.safetensors");
    try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 100);
    }
    Exception e = assertThrows(RuntimeException.class, () -> ModelCheckpoint.load(dir, ModelOptions.defaults()));
    assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
  }

  @Test
  void absurdHeaderLengthIsAClearError() throws IOException {
    Path dir = tmp.resolve("c");
    ModelCheckpoint.save(dir, model(), Provenance.of("a", 1, Map.of(), null), Map.of(), null);
    byte[] bytes = Files.readAllBytes(dir.resolve("model.safetensors"));
    bytes[7] = 0x7f; // header length ~ 2^63
    Files.write(dir.resolve("model.safetensors"), bytes);
    Exception e = assertThrows(SafetensorsException.class, () -> ModelCheckpoint.load(dir, ModelOptions.defaults()));
    assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("header"), e.getMessage());
  }

  @Test
  void missingUnexpectedOrMisshapenTensorsAreNamed() throws IOException {
    GptModel m = model();
    Path dir = tmp.resolve("c");
    ModelCheckpoint.save(dir, m, Provenance.of("a", 1, Map.of(), null), Map.of(), null);
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    for (ParameterLayout.Entry e : m.parameters().layout().entries()) {
      if (!e.name().equals("h.1.ln_2.bias")) {
        tensors.put(e.name(), m.parameters().get(e.name()).array());
      }
    }
    tensors.put("h.9.surprise", m.parameters().get("ln_f.bias").array());
    SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of());
    CheckpointException e = assertThrows(CheckpointException.class, () -> ModelCheckpoint.load(dir, ModelOptions.defaults()));
    assertTrue(e.getMessage().contains("h.1.ln_2.bias") && e.getMessage().contains("h.9.surprise"), e.getMessage());

    tensors.remove("h.9.surprise");
    tensors.put("h.1.ln_2.bias", m.parameters().get("wte").array());
    SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of());
    e = assertThrows(CheckpointException.class, () -> ModelCheckpoint.load(dir, ModelOptions.defaults()));
    assertTrue(e.getMessage().contains("h.1.ln_2.bias") && e.getMessage().contains("shape"), e.getMessage());
  }

  @Test
  void badMetadataIsNamed() throws IOException {
    Path dir = tmp.resolve("c");
    ModelCheckpoint.save(dir, model(), Provenance.of("a", 1, Map.of(), null), Map.of(), null);
    Path meta = dir.resolve("rlhf4j.json");
    Files.writeString(meta, Files.readString(meta).replace("\"n_head\" : 2", "\"n_head\" : \"two\""));
    Exception e = assertThrows(RuntimeException.class, () -> ModelCheckpoint.load(dir, ModelOptions.defaults()));
    assertTrue(e.getMessage().contains("rlhf4j.json") && e.getMessage().contains("n_head"), e.getMessage());
    assertFalse(ModelCheckpoint.isCheckpoint(tmp));
  }
}
