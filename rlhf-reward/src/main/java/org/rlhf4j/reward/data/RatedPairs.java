package org.rlhf4j.reward.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.IntPredicate;
import org.rlhf4j.core.RlhfException;

/**
 * Builds preference comparisons from human-rated texts, the way a labelling team's rankings are
 * turned into reward-model data: two texts whose mean ratings differ by at least a gap form a pair,
 * the higher-rated one chosen. Pairs with a small gap are left out because the raters' means are
 * noisy there.
 *
 * <p>Sampling is deterministic for a seed: the texts are first sorted by (rating, id), so the result
 * depends only on the set of texts and the {@link Options}, not on their order. Each pair is drawn
 * by picking an anchor text uniformly among the texts that can still be used, then a partner
 * uniformly among the texts at least {@code minGap} away from it in rating; a partner that has
 * reached its use limit, has the same sentence, or would repeat an earlier pair is redrawn. No
 * unordered pair appears twice.
 *
 * <p>To keep evaluation honest, {@linkplain RatedTexts#split split} the texts first and build
 * training pairs from the training texts only.
 */
public final class RatedPairs {
  private static final int TRIES_PER_ANCHOR = 32;

  private RatedPairs() {}

  /**
   * How to sample pairs.
   *
   * @param pairs the number of pairs to build, at least 1
   * @param minGap the smallest rating difference of a pair, positive (default 2.0)
   * @param maxUsesPerText how many pairs one text may appear in, at least 1 (default unlimited,
   *     {@link Integer#MAX_VALUE})
   * @param seed the seed of the random generator
   */
  public record Options(int pairs, double minGap, int maxUsesPerText, long seed) {

    /** The default smallest rating difference of a pair. */
    public static final double DEFAULT_MIN_GAP = 2.0;

    /**
     * Checks the options.
     *
     * @throws IllegalArgumentException if a value is out of range
     */
    public Options {
      checkArgument(pairs >= 1, "pairs must be at least 1, got %s", pairs);
      checkArgument(
          Double.isFinite(minGap) && minGap > 0, "minGap must be finite and positive, got %s",
          minGap);
      checkArgument(maxUsesPerText >= 1, "maxUsesPerText must be at least 1, got %s",
          maxUsesPerText);
    }

    /** {@code pairs} pairs with the default gap, no limit on uses, seeded with {@code seed}. */
    public static Options of(int pairs, long seed) {
      return new Options(pairs, DEFAULT_MIN_GAP, Integer.MAX_VALUE, seed);
    }

    /** These options with the smallest rating difference {@code minGap}. */
    public Options withMinGap(double minGap) {
      return new Options(pairs, minGap, maxUsesPerText, seed);
    }

    /** These options with each text in at most {@code maxUsesPerText} pairs. */
    public Options withMaxUsesPerText(int maxUsesPerText) {
      return new Options(pairs, minGap, maxUsesPerText, seed);
    }
  }

  /**
   * {@code options.pairs()} comparisons sampled from {@code texts} (see {@link RatedPairs}).
   *
   * @throws RlhfException if that many pairs cannot be found: fewer texts have a partner than the
   *     use limit allows, or a long run of draws finds no new pair (too many pairs asked for the
   *     texts, gap and use limit)
   */
  public static ImmutableList<RatedPair> sample(List<RatedText> texts, Options options) {
    checkNotNull(texts, "texts");
    checkNotNull(options, "options");
    List<RatedText> sorted = new ArrayList<>(texts);
    sorted.sort(Comparator.comparingDouble(RatedText::rating).thenComparing(RatedText::id));
    int n = sorted.size();
    double[] r = new double[n];
    for (int i = 0; i < n; i++) {
      r[i] = sorted.get(i).rating();
    }
    double gap = options.minGap();
    // Partners of i: indices [0, below[i]) (rated >= gap lower) and [above[i], n) (>= gap higher).
    int[] below = new int[n];
    int[] above = new int[n];
    // available[0, size) lists the texts that can still be anchors; position[i] is i's slot there.
    int[] available = new int[n];
    int[] position = new int[n];
    int size = 0;
    for (int i = 0; i < n; i++) {
      final double ri = r[i];
      below[i] = firstIndex(r, j -> ri - r[j] < gap);
      above[i] = firstIndex(r, j -> r[j] - ri >= gap);
      position[i] = -1;
      if (below[i] + (n - above[i]) > 0) {
        available[size] = i;
        position[i] = size++;
      }
    }
    int maxUses = options.maxUsesPerText();
    long capacity = (long) size * maxUses / 2;
    if (options.pairs() > capacity) {
      throw new RlhfException(
          "cannot build " + options.pairs() + " pairs: only " + size + " of " + n
              + " texts have a partner at least " + gap + " apart, and each may be used at most "
              + maxUses + " times");
    }
    SplittableRandom random = new SplittableRandom(options.seed());
    int[] uses = new int[n];
    Set<Long> seen = new HashSet<>();
    ImmutableList.Builder<RatedPair> out = ImmutableList.builder();
    int built = 0;
    long failedAnchors = 0;
    long maxFailedAnchors = 1000L + 10L * n;
    while (built < options.pairs()) {
      if (size == 0 || failedAnchors > maxFailedAnchors) {
        throw new RlhfException(
            "could only build " + built + " of " + options.pairs() + " distinct pairs from " + n
                + " texts with rating gap >= " + gap + " and at most " + maxUses
                + " uses per text");
      }
      int a = available[random.nextInt(size)];
      int partners = below[a] + (n - above[a]);
      int b = -1;
      for (int t = 0; t < TRIES_PER_ANCHOR && b < 0; t++) {
        int u = random.nextInt(partners);
        int candidate = u < below[a] ? u : above[a] + (u - below[a]);
        long key = (long) Math.min(a, candidate) * n + Math.max(a, candidate);
        if (uses[candidate] < maxUses
            && !sorted.get(a).text().equals(sorted.get(candidate).text())
            && seen.add(key)) {
          b = candidate;
        }
      }
      if (b < 0) {
        failedAnchors++;
        continue;
      }
      failedAnchors = 0;
      int hi = r[a] > r[b] ? a : b;
      out.add(new RatedPair(sorted.get(hi), sorted.get(hi == a ? b : a)));
      built++;
      for (int x : new int[] {a, b}) {
        if (++uses[x] == maxUses && position[x] >= 0) {
          int last = available[--size];
          available[position[x]] = last;
          position[last] = position[x];
          position[x] = -1;
        }
      }
    }
    return out.build();
  }

  /** The first index j of sorted {@code r} where {@code pred} holds, given it is monotone. */
  private static int firstIndex(double[] r, IntPredicate pred) {
    int lo = 0;
    int hi = r.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (pred.test(mid)) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return lo;
  }
}
