package org.rlhf4j.core.hf;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.rlhf4j.core.data.SharedData;

/**
 * Test access to the Hugging Face reference fixtures in {@code ../shared/fixtures/hf} (written by
 * the real transformers; see their README): tests that need them are skipped, with a message, where
 * the folder is absent.
 */
final class HfFixtures {
  private static final ObjectMapper JSON = new ObjectMapper();

  private HfFixtures() {}

  /** The fixture folder {@code name} (e.g. {@code llama-gqa}); skips the calling test without it. */
  static Path require(String name) {
    Optional<Path> dir = SharedData.root().map(data -> data.resolveSibling("fixtures").resolve("hf").resolve(name));
    assumeTrue(
        dir.isPresent() && Files.isDirectory(dir.get()),
        "skipped: Hugging Face fixture " + name + " not found (expected ../shared/fixtures/hf/" + name + " beside the checkout)");
    return dir.get();
  }

  /** The parsed {@code file}. */
  static JsonNode json(Path file) {
    try {
      return JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
