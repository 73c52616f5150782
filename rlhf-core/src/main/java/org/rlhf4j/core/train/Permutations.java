package org.rlhf4j.core.train;

import java.util.SplittableRandom;

/** Seeded random permutations for data order (Fisher-Yates), identical on every platform. */
public final class Permutations {
  private Permutations() {}

  /** A uniformly random permutation of {@code 0 .. n-1} drawn from {@code rng}. */
  public static int[] random(int n, SplittableRandom rng) {
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {
      int j = rng.nextInt(i + 1);
      int t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}
