package org.rlhf4j.reward.data;

import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.util.BitSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import org.rlhf4j.core.data.DataFormatException;

/**
 * A labeller's ranking of K >= 2 responses to one prompt, best first, as collected for InstructGPT's
 * reward model. Pairwise data (TRL's chosen/rejected) is the case K = 2. Immutable.
 *
 * <p>A ranking remembers where it was read from ({@link #source()}, {@link #line()}) so that its
 * validation errors, and those of code using it, can name the record; equality ignores the
 * location and compares the prompt, responses, order and labeller.
 */
public final class Ranking {
  private final String source;
  private final long line;
  private final String prompt;
  private final ImmutableList<String> responses;
  private final ImmutableList<Integer> order;
  private final String labeller;

  private Ranking(
      String source,
      long line,
      String prompt,
      ImmutableList<String> responses,
      ImmutableList<Integer> order,
      String labeller) {
    this.source = source;
    this.line = line;
    this.prompt = prompt;
    this.responses = responses;
    this.order = order;
    this.labeller = labeller;
  }

  /**
   * A validated ranking. Errors are worded after the K-way JSON Lines fields: {@code
   * source:line: field "ranking": index 3 appears twice}.
   *
   * @param source the file (or other origin) of the record, for error messages
   * @param line the 1-based line (or record index) of the record in {@code source}
   * @param prompt the prompt; may be empty
   * @param responses the K responses, none blank
   * @param order the indices into {@code responses} from best to worst: a permutation of {@code 0 ..
   *     K-1}
   * @throws DataFormatException if {@code K < 2}, a response is blank, or {@code order} is not a
   *     permutation of {@code 0 .. K-1} (an index out of range, repeated or missing)
   */
  public static Ranking of(
      String source, long line, String prompt, List<String> responses, List<Integer> order) {
    checkNotNull(source, "source");
    checkNotNull(prompt, "prompt");
    ImmutableList<String> rs = ImmutableList.copyOf(responses);
    ImmutableList<Integer> os = ImmutableList.copyOf(order);
    int k = rs.size();
    if (k < 2) {
      throw new DataFormatException(
          source, line, "field \"responses\": a ranking needs at least 2 responses, got " + k);
    }
    for (int i = 0; i < k; i++) {
      if (rs.get(i).isBlank()) {
        throw new DataFormatException(
            source, line, "field \"responses[" + i + "]\": must not be empty");
      }
    }
    BitSet seen = new BitSet(k);
    for (int index : os) {
      if (index < 0 || index >= k) {
        throw new DataFormatException(
            source,
            line,
            "field \"ranking\": index " + index + " is out of range 0.." + (k - 1) + " for " + k
                + " responses");
      }
      if (seen.get(index)) {
        throw new DataFormatException(
            source, line, "field \"ranking\": index " + index + " appears more than once in " + os);
      }
      seen.set(index);
    }
    if (seen.cardinality() != k) {
      throw new DataFormatException(
          source,
          line,
          "field \"ranking\": index " + seen.nextClearBit(0) + " is missing from " + os
              + " (it must order all " + k + " responses)");
    }
    return new Ranking(source, line, prompt, rs, os, null);
  }

  /**
   * A pairwise comparison (K = 2): {@code chosen} ranked above {@code rejected}.
   *
   * @throws DataFormatException if a response is blank (reported as {@code responses[0]} for
   *     {@code chosen}, {@code responses[1]} for {@code rejected})
   */
  public static Ranking pairwise(
      String source, long line, String prompt, String chosen, String rejected) {
    return of(source, line, prompt, List.of(chosen, rejected), List.of(0, 1));
  }

  /** A pairwise comparison made by the application itself (source {@code "application"}, line 0). */
  public static Ranking pairwise(String prompt, String chosen, String rejected) {
    return pairwise("application", 0, prompt, chosen, rejected);
  }

  /** This ranking attributed to the labeller {@code labeller}. */
  public Ranking withLabeller(String labeller) {
    return new Ranking(source, line, prompt, responses, order, checkNotNull(labeller, "labeller"));
  }

  /** Where the record was read from: a file name or another description. */
  public String source() {
    return source;
  }

  /** The 1-based line (or record index) of the record in {@link #source()}. */
  public long line() {
    return line;
  }

  /** The prompt the responses answer; may be empty. */
  public String prompt() {
    return prompt;
  }

  /** The K responses, in their stored (unranked) order. */
  public ImmutableList<String> responses() {
    return responses;
  }

  /** The indices into {@link #responses()} from best to worst. */
  public ImmutableList<Integer> order() {
    return order;
  }

  /** The number K of ranked responses. */
  public int k() {
    return responses.size();
  }

  /** The responses from best to worst. */
  public ImmutableList<String> ranked() {
    return order.stream().map(responses::get).collect(ImmutableList.toImmutableList());
  }

  /** The best response. */
  public String best() {
    return responses.get(order.get(0));
  }

  /** The id of the labeller who ranked the responses, if known. */
  public Optional<String> labeller() {
    return Optional.ofNullable(labeller);
  }

  /**
   * All C(K,2) comparisons implied by the ranking, each (better, worse) with weight 1/C(K,2), so
   * that the weights of one prompt sum to 1 (InstructGPT trains on all pairs of a prompt together
   * and weights them this way to avoid over-fitting prompts with many responses). Pairs are listed
   * best first: (1st, 2nd), (1st, 3rd), ..., (2nd, 3rd), ...
   */
  public ImmutableList<PreferencePair> pairs() {
    int k = k();
    double weight = 2.0 / ((double) k * (k - 1));
    ImmutableList.Builder<PreferencePair> out = ImmutableList.builder();
    for (int i = 0; i < k; i++) {
      for (int j = i + 1; j < k; j++) {
        out.add(
            new PreferencePair(
                prompt, responses.get(order.get(i)), responses.get(order.get(j)), weight));
      }
    }
    return out.build();
  }

  /** The pairs of every ranking in {@code rankings}, in order (see {@link #pairs()}). */
  public static ImmutableList<PreferencePair> pairs(List<Ranking> rankings) {
    return rankings.stream()
        .flatMap(r -> r.pairs().stream())
        .collect(ImmutableList.toImmutableList());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Ranking r
        && prompt.equals(r.prompt)
        && responses.equals(r.responses)
        && order.equals(r.order)
        && Objects.equals(labeller, r.labeller);
  }

  @Override
  public int hashCode() {
    return Objects.hash(prompt, responses, order, labeller);
  }

  @Override
  public String toString() {
    return "Ranking[" + source + ":" + line + ", K=" + k() + ", order=" + order
        + (labeller == null ? "" : ", labeller=" + labeller) + "]";
  }
}
