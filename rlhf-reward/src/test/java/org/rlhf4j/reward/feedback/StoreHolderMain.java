package org.rlhf4j.reward.feedback;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A child process for the cross-process lock test: opens the store, appends one ranking, reads the
 * data file through a second descriptor (which drops a POSIX lock held on that file), prints "OPEN",
 * and holds the store until its standard input closes.
 */
public final class StoreHolderMain {
  private StoreHolderMain() {}

  public static void main(String[] args) throws Exception {
    try (ComparisonStore store = ComparisonStore.open(Path.of(args[0]))) {
      LabelRequest r = LabelRequest.of("held-" + store.size(), "prompt", List.of("a", "b"), 0, "v0");
      store.append(r, LabelResult.ranked(r, List.of(1, 0), "holder"));
      Files.readAllBytes(store.file());
      System.out.println("OPEN");
      System.out.flush();
      while (System.in.read() >= 0) {
        // hold the store until the parent closes our input
      }
    }
  }
}
