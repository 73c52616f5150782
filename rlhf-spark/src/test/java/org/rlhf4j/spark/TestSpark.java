package org.rlhf4j.spark;

import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.model.ModelOptions;
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

  static List<String> prompts() {
    return List.of("ab", "hello", "x", "abc d", "spark", "q", "rl", "jvm");
  }
}
