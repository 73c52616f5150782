package org.rlhf4j.reward.feedback;

import java.util.Locale;

/** A person's verdict on a blind A/B item: the response shown as A is better, B is better, or a tie. */
public enum AbChoice {
  /** The response shown first (A) is better. */
  A,
  /** The response shown second (B) is better. */
  B,
  /** Neither is better. */
  TIE;

  /** The name used in JSON: {@code "A"}, {@code "B"} or {@code "tie"}. */
  public String wireName() {
    return this == TIE ? "tie" : name();
  }

  /**
   * Parses {@link #wireName()} (case-insensitive).
   *
   * @throws IllegalArgumentException naming the value if it is none of {@code A}, {@code B}, {@code tie}
   */
  public static AbChoice parse(String s) {
    if (s != null) {
      switch (s.toLowerCase(Locale.ROOT)) {
        case "a" -> {
          return A;
        }
        case "b" -> {
          return B;
        }
        case "tie" -> {
          return TIE;
        }
        default -> {
          // refused below
        }
      }
    }
    throw new IllegalArgumentException("choice must be \"A\", \"B\" or \"tie\", got " + (s == null ? "nothing" : "\"" + s + "\""));
  }
}
