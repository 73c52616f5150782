package org.rlhf4j.core.hf;

import java.nio.file.Path;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.Tokenizer;

/** Loads a model directory of either kind: an rlhf4j checkpoint or a Hugging Face GPT-2 download. */
public final class PretrainedModels {
  /** A model and the tokenizer that came with it. */
  public record Pretrained(GptModel model, Tokenizer tokenizer) {}

  private PretrainedModels() {}

  /**
   * Loads {@code dir}, which must hold a tokenizer too.
   *
   * @throws CheckpointException if the directory is neither kind, or has no tokenizer
   */
  public static Pretrained load(Path dir, ModelOptions options) {
    if (ModelCheckpoint.isCheckpoint(dir)) {
      ModelCheckpoint.Loaded l = ModelCheckpoint.load(dir, options);
      return new Pretrained(l.model(), l.tokenizer().orElseThrow(() -> noTokenizer(dir)));
    }
    if (HfGpt2.isHfDirectory(dir)) {
      HfGpt2.Loaded l = HfGpt2.load(dir, options);
      return new Pretrained(l.model(), l.tokenizer().orElseThrow(() -> noTokenizer(dir)));
    }
    throw new CheckpointException(
        dir + ": not a model directory (expected an rlhf4j checkpoint with rlhf4j.json and model.safetensors, or a Hugging Face"
            + " GPT-2 download with config.json, model.safetensors and vocab.json/merges.txt)");
  }

  private static CheckpointException noTokenizer(Path dir) {
    return new CheckpointException(dir + ": the model has no tokenizer files (vocab.json + merges.txt, tokenizer.json, or rlhf4j_tokenizer.json)");
  }
}
