package org.rlhf4j.core.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.ByteTokenizer;

/**
 * Writes the golden checkpoints kept under {@code src/test/resources/golden/} (run once per format
 * version, then committed): {@code main(dir)} writes a tiny model and the logits it gives for {@link
 * #INPUT}. {@link GoldenCheckpointTest} keeps old files loadable and their outputs unchanged.
 */
public final class GoldenCheckpoints {
  /** The input whose logits are recorded: one left-padded and one full row. */
  static final TokenBatch INPUT =
      TokenBatch.of(2, 5, new int[] {258, 258, 72, 105, 33, 10, 20, 30, 40, 50}, new int[] {0, 0, 1, 1, 1, 1, 1, 1, 1, 1});

  static final GptConfig CONFIG =
      GptConfig.builder().vocabSize(259).dModel(8).heads(2).layers(1).contextLength(8).scalarHead(true).build();

  private GoldenCheckpoints() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    GptModel m = GptModel.randomInit(CONFIG, 2026, new ModelOptions(DataType.FLOAT, 1));
    m.parameters().flat().array().muli(10); // make outputs sensitive to every weight
    ModelCheckpoint.save(dir, m, Provenance.of("random-init", 2026, Map.of("note", "golden v1"), null), Map.of("gain", 1.5), ByteTokenizer.create());
    INDArray logits = m.forward(INPUT).logits();
    Map<String, Object> expected = new LinkedHashMap<>();
    expected.put("shape", logits.shape());
    expected.put("logits", logits.castTo(DataType.DOUBLE).reshape(logits.length()).toDoubleVector());
    expected.put("values", m.forward(INPUT).values().castTo(DataType.DOUBLE).reshape(10).toDoubleVector());
    Files.writeString(dir.resolve("expected.json"), new ObjectMapper().writeValueAsString(expected));
  }
}
