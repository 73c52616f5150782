package org.rlhf4j.spark;

import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.llama.LlamaConfig;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.tokenizer.ByteTokenizer;

/** The tests' shared local Spark session and tiny models. */
public final class TestSpark {
  private TestSpark() {}

  /**
   * A local session with 2 worker threads, each task tried up to 3 times ({@code local[2,3]}: plain
   * {@code local[2]} never retries a task), no UI, bound to the loopback interface. One per JVM:
   * Spark allows one context per JVM; it stops at the JVM's exit.
   */
  public static synchronized SparkSession session() {
    return SparkSession.builder()
        .master("local[2,3]")
        .appName("rlhf4j-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate();
  }

  static final ByteTokenizer TOK = ByteTokenizer.create();

  /** A 1-layer GPT of width 16 over bytes, FLOAT, 2 threads. */
  static GptModel tinyModel(long seed) {
    GptConfig c = GptConfig.builder().vocabSize(ByteTokenizer.VOCAB_SIZE).dModel(16).heads(2).layers(1)
        .contextLength(32).build();
    return GptModel.randomInit(c, seed, new ModelOptions(DataType.FLOAT, 2));
  }

  /**
   * A 1-layer Llama of width 16 over bytes (grouped-query attention: 2 heads, 1 key/value head;
   * Llama-3 rope scaling), FLOAT, 2 threads; {@code qwen}: Qwen2's q/k/v biases and tied embeddings.
   */
  static LlamaModel tinyLlama(long seed, boolean qwen) {
    LlamaConfig.Builder b = LlamaConfig.builder().vocabSize(ByteTokenizer.VOCAB_SIZE).hiddenSize(16)
        .intermediateSize(24).layers(1).heads(2).kvHeads(1).contextLength(32).ropeTheta(100);
    if (qwen) {
      b.family(LlamaConfig.Family.QWEN2).qkvBias(true).tiedEmbeddings(true);
    } else {
      b.llama3Scaling(new LlamaConfig.Llama3Scaling(4, 1, 4, 16));
    }
    return LlamaModel.randomInit(b.build(), seed, new ModelOptions(DataType.FLOAT, 2));
  }

  static List<String> prompts() {
    return List.of("ab", "hello", "x", "abc d", "spark", "q", "rl", "jvm");
  }
}
