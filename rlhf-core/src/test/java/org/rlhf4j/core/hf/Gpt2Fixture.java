package org.rlhf4j.core.hf;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.io.SafetensorsDtype;
import org.rlhf4j.core.io.SafetensorsWriter;

/**
 * Writes a randomly initialised checkpoint in Hugging Face's GPT-2 layout (config.json +
 * model.safetensors with HF tensor names, the attention-mask buffers and a tied lm_head), written
 * here directly with the safetensors writer rather than rlhf4j's exporter, so that the importer is
 * checked against an independent file. {@code tools/gpt2_reference_logits.py} computes the
 * reference logits of {@link #IDS} from the same files with PyTorch.
 *
 * <p>Run: {@code main(dir)} (F32) or {@code main(dir, F16|BF16)}.
 */
public final class Gpt2Fixture {
  static final int VOCAB = 512;
  static final int D = 64;
  static final int HEADS = 4;
  static final int LAYERS = 2;
  static final int POSITIONS = 32;
  static final long SEED = 20261122;
  /** Two rows of 6 tokens; the second is left-padded by 2 (pad id 0, mask 0). */
  static final int[][] IDS = {{11, 300, 7, 511, 42, 256}, {0, 0, 5, 99, 123, 400}};
  static final int[][] MASK = {{1, 1, 1, 1, 1, 1}, {0, 0, 1, 1, 1, 1}};

  private Gpt2Fixture() {}

  public static void main(String[] args) throws IOException {
    write(Path.of(args[0]), args.length > 1 ? SafetensorsDtype.valueOf(args[1]) : SafetensorsDtype.F32);
  }

  static void write(Path dir, SafetensorsDtype dtype) throws IOException {
    Files.createDirectories(dir);
    SplittableRandom rng = new SplittableRandom(SEED);
    Map<String, INDArray> t = new LinkedHashMap<>();
    INDArray wte = normal(rng, 0.1, VOCAB, D);
    t.put("wte.weight", wte);
    t.put("wpe.weight", normal(rng, 0.1, POSITIONS, D));
    for (int l = 0; l < LAYERS; l++) {
      String p = "h." + l + ".";
      t.put(p + "ln_1.weight", normal(rng, 0.2, D).addi(1));
      t.put(p + "ln_1.bias", normal(rng, 0.1, D));
      t.put(p + "attn.bias", Nd4j.ones(DataType.FLOAT, POSITIONS, POSITIONS).reshape(1, 1, POSITIONS, POSITIONS));
      t.put(p + "attn.c_attn.weight", normal(rng, 0.15, D, 3 * D));
      t.put(p + "attn.c_attn.bias", normal(rng, 0.1, 3 * D));
      t.put(p + "attn.c_proj.weight", normal(rng, 0.15, D, D));
      t.put(p + "attn.c_proj.bias", normal(rng, 0.1, D));
      t.put(p + "ln_2.weight", normal(rng, 0.2, D).addi(1));
      t.put(p + "ln_2.bias", normal(rng, 0.1, D));
      t.put(p + "mlp.c_fc.weight", normal(rng, 0.15, D, 4 * D));
      t.put(p + "mlp.c_fc.bias", normal(rng, 0.1, 4 * D));
      t.put(p + "mlp.c_proj.weight", normal(rng, 0.1, 4 * D, D));
      t.put(p + "mlp.c_proj.bias", normal(rng, 0.1, D));
    }
    t.put("ln_f.weight", normal(rng, 0.2, D).addi(1));
    t.put("ln_f.bias", normal(rng, 0.1, D));
    t.put("lm_head.weight", wte);
    SafetensorsWriter.Builder b = SafetensorsWriter.builder().metadata("format", "pt");
    for (Map.Entry<String, INDArray> e : t.entrySet()) {
      b.add(e.getKey(), e.getValue(), dtype);
    }
    b.write(dir.resolve("model.safetensors"));
    Map<String, Object> cfg = new LinkedHashMap<>();
    cfg.put("architectures", java.util.List.of("GPT2LMHeadModel"));
    cfg.put("model_type", "gpt2");
    cfg.put("vocab_size", VOCAB);
    cfg.put("n_embd", D);
    cfg.put("n_head", HEADS);
    cfg.put("n_layer", LAYERS);
    cfg.put("n_positions", POSITIONS);
    cfg.put("n_ctx", POSITIONS);
    cfg.put("n_inner", null);
    cfg.put("activation_function", "gelu_new");
    cfg.put("layer_norm_epsilon", 1e-5);
    cfg.put("tie_word_embeddings", true);
    new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(dir.resolve("config.json").toFile(), cfg);
  }

  private static INDArray normal(SplittableRandom rng, double std, long... shape) {
    long n = 1;
    for (long s : shape) {
      n *= s;
    }
    float[] v = new float[(int) n];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (rng.nextGaussian() * std);
    }
    return Nd4j.createFromArray(v).reshape(shape);
  }
}
