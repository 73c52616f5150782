package org.rlhf4j.reward.feedback;

import java.nio.file.Path;
import java.util.List;

/** A child process for the durability test: appends rankings forever, printing "ACK n" after each. */
public final class StoreWriterMain {
  private StoreWriterMain() {}

  public static void main(String[] args) {
    try (ComparisonStore store = ComparisonStore.open(Path.of(args[0]))) {
      String big = "x".repeat(2000);
      for (int i = store.size() + 1; ; i++) {
        LabelRequest r = LabelRequest.of("item-" + i, "prompt " + i + " " + big, List.of("a " + i + big, "b " + i, "c"), 0, "v0");
        StoredComparison c = store.append(r, LabelResult.ranked(r, List.of(2, 0, 1), "writer"));
        System.out.println("ACK " + c.sequence());
        System.out.flush();
      }
    }
  }
}
