package org.rlhf4j.core.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.Optional;
import org.rlhf4j.core.data.SharedData;

/** Test access to {@code ../shared/data}: tests that need a file are skipped, with a message, without it. */
public final class TestData {
  private TestData() {}

  /** The shared file {@code relative}; skips the calling test with a clear message if it is absent. */
  public static Path require(String relative) {
    Optional<Path> p = SharedData.find(relative);
    assumeTrue(
        p.isPresent(),
        "skipped: shared data file " + relative + " not found (expected ../shared/data/" + relative
            + " beside the checkout, or -Drlhf4j.data=DIR)");
    return p.get();
  }
}
