package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.rlhf4j.core.data.SharedData;

/** Locates the Hugging Face reference fixtures ({@code ../shared/fixtures/hf}); tests skip without them. */
public final class HfFixtures {
  private HfFixtures() {}

  /** The fixture {@code relative} (file or folder) under {@code shared/fixtures/hf}, if present. */
  public static Optional<Path> find(String relative) {
    return SharedData.root()
        .map(r -> r.getParent().resolve("fixtures").resolve("hf").resolve(relative))
        .filter(Files::exists);
  }

  /** The fixture {@code relative}; skips the calling test (with a message) if it is absent. */
  public static Path require(String relative) {
    Optional<Path> p = find(relative);
    assumeTrue(
        p.isPresent(),
        "skipped: Hugging Face fixture shared/fixtures/hf/" + relative + " is not present");
    return p.get();
  }
}
