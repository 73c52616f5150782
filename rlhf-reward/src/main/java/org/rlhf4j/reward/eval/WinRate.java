package org.rlhf4j.reward.eval;

import com.google.common.base.Preconditions;

/**
 * The headline metric of InstructGPT: how often system A's response is preferred to system B's, with a
 * Wilson score interval. A tie counts as half a win for each side (the usual convention of pairwise
 * human evaluation), so {@code rate = (wins + ties / 2) / n}.
 *
 * @param nameA the first system, e.g. {@code "ppo"}
 * @param nameB the second system, e.g. {@code "sft"}
 * @param wins comparisons A won
 * @param losses comparisons A lost
 * @param ties comparisons judged equal
 * @param rate the win rate of A over B, in [0, 1]
 * @param low the lower end of the 95 % Wilson interval
 * @param high the upper end of the 95 % Wilson interval
 */
public record WinRate(String nameA, String nameB, int wins, int losses, int ties, double rate, double low, double high) {

  /** z for a two-sided 95 % interval. */
  public static final double Z95 = 1.959963984540054;

  /**
   * The win rate of A over B from counts.
   *
   * @throws IllegalArgumentException if a count is negative
   */
  public static WinRate of(String nameA, String nameB, int wins, int losses, int ties) {
    Preconditions.checkArgument(wins >= 0 && losses >= 0 && ties >= 0,
        "counts must be non-negative, got wins %s, losses %s, ties %s", wins, losses, ties);
    int n = wins + losses + ties;
    if (n == 0) {
      return new WinRate(nameA, nameB, 0, 0, 0, Double.NaN, 0.0, 1.0);
    }
    double p = (wins + 0.5 * ties) / n;
    double[] ci = wilson(p, n, Z95);
    return new WinRate(nameA, nameB, wins, losses, ties, p, ci[0], ci[1]);
  }

  /**
   * The win rate of A over B from paired scores (higher is better): {@code scoresA[i]} and
   * {@code scoresB[i]} judge the two systems' responses to the same prompt; equal scores are a tie.
   */
  public static WinRate fromScores(String nameA, String nameB, double[] scoresA, double[] scoresB) {
    Preconditions.checkArgument(scoresA.length == scoresB.length,
        "paired scores need equal lengths, got %s and %s", scoresA.length, scoresB.length);
    int w = 0, l = 0, t = 0;
    for (int i = 0; i < scoresA.length; i++) {
      Preconditions.checkArgument(Double.isFinite(scoresA[i]) && Double.isFinite(scoresB[i]),
          "score %s is not finite: %s vs %s", i, scoresA[i], scoresB[i]);
      if (scoresA[i] > scoresB[i]) {
        w++;
      } else if (scoresA[i] < scoresB[i]) {
        l++;
      } else {
        t++;
      }
    }
    return of(nameA, nameB, w, l, t);
  }

  /** Comparisons counted. */
  public int n() {
    return wins + losses + ties;
  }

  /**
   * The Wilson score interval {@code [low, high]} of a proportion {@code p} observed in {@code n} trials.
   */
  public static double[] wilson(double p, int n, double z) {
    Preconditions.checkArgument(n > 0, "n must be positive, got %s", n);
    Preconditions.checkArgument(p >= 0 && p <= 1, "p must be in [0, 1], got %s", p);
    double z2 = z * z;
    double denom = 1 + z2 / n;
    double centre = (p + z2 / (2.0 * n)) / denom;
    double half = z * Math.sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / denom;
    return new double[] {Math.max(0.0, centre - half), Math.min(1.0, centre + half)};
  }

  @Override
  public String toString() {
    return String.format("%s vs %s: %.1f %% [%.1f, %.1f] (%d wins, %d losses, %d ties)",
        nameA, nameB, 100 * rate, 100 * low, 100 * high, wins, losses, ties);
  }
}
