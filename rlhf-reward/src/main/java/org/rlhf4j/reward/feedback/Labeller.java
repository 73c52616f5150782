package org.rlhf4j.reward.feedback;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.ToDoubleFunction;
import java.util.stream.IntStream;

/**
 * Ranks the K responses to a prompt, or skips. People answer through a user interface (see the
 * labelling page in {@code rlhf-examples}); programs implement {@link #label} directly, so tests and
 * batch jobs run the same loop.
 */
public interface Labeller {

  /** Ranks one item (blocking until answered). */
  LabelResult label(LabelRequest request);

  /**
   * Ranks several items; the results are in the requests' order. The default asks one at a time;
   * a labeller backed by people may show them all at once.
   */
  default List<LabelResult> labelAll(List<LabelRequest> requests) {
    List<LabelResult> out = new ArrayList<>(requests.size());
    for (LabelRequest r : requests) {
      out.add(label(r));
    }
    return out;
  }

  /**
   * A program that ranks responses by {@code score} (higher is better, ties by position) and skips
   * items whose responses all score the same.
   */
  static Labeller byScore(String name, ToDoubleFunction<String> score) {
    return request -> {
      double[] s = request.responses().stream().mapToDouble(score).toArray();
      boolean allEqual = IntStream.range(1, s.length).allMatch(i -> s[i] == s[0]);
      if (allEqual) {
        return LabelResult.skipped(request, name);
      }
      List<Integer> order = IntStream.range(0, s.length).boxed().sorted(Comparator.comparingDouble((Integer i) -> -s[i])).toList();
      return LabelResult.ranked(request, order, name);
    };
  }
}
