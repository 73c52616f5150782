package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class MergeTableTest {
  // ids: a=0 b=1 x=2 ab=3 abab=4 xab=5
  private static final MergeTable ODD_ORDER =
      new MergeTable(new int[] {3, 2, 0}, new int[] {3, 3, 1}, new int[] {4, 5, 3});

  @Test
  void looksUpPairs() {
    assertEquals(0, ODD_ORDER.rank(3, 3));
    assertEquals(2, ODD_ORDER.rank(0, 1));
    assertEquals(-1, ODD_ORDER.rank(1, 0));
    assertEquals(3, ODD_ORDER.result(2));
    assertEquals(3, ODD_ORDER.size());
    assertThrows(
        IllegalArgumentException.class,
        () -> new MergeTable(new int[] {1, 1}, new int[] {2, 2}, new int[] {3, 4}));
  }

  @Test
  void mergesAllOccurrencesOfARankBeforeNewPairs() {
    // encoder.py: x a b a b -> (a b, rank 2) everywhere: x ab ab -> (ab ab, rank 0): x abab.
    // Merging the new pair (x ab, rank 1) before the second "a b" would give xab ab instead.
    int[] word = {2, 0, 1, 0, 1};
    assertArrayEquals(new int[] {2, 4}, ODD_ORDER.applyScan(word));
    assertArrayEquals(new int[] {2, 4}, ODD_ORDER.applyHeap(word));
    assertArrayEquals(new int[] {0, 0, 0}, ODD_ORDER.apply(new int[] {0, 0, 0}));
    assertArrayEquals(new int[] {4, 3}, ODD_ORDER.apply(new int[] {0, 1, 0, 1, 0, 1}));
  }

  @Test
  void heapAndScanAgreeOnRandomTables() {
    Random rnd = new Random(11);
    for (int t = 0; t < 30; t++) {
      MergeTable table = randomTable(rnd, 4, 40);
      for (int w = 0; w < 50; w++) {
        int[] word = new int[1 + rnd.nextInt(120)];
        for (int i = 0; i < word.length; i++) {
          word[i] = rnd.nextInt(4);
        }
        int[] scan = table.applyScan(word);
        assertArrayEquals(scan, table.applyHeap(word), "table " + t + " word " + w);
        assertArrayEquals(scan, table.apply(word));
      }
    }
  }

  /**
   * Random merges over {@code symbols} base ids; each merge makes a new id from two earlier ones.
   */
  private static MergeTable randomTable(Random rnd, int symbols, int merges) {
    List<long[]> pairs = new ArrayList<>();
    java.util.Set<Long> seen = new java.util.HashSet<>();
    int next = symbols;
    while (pairs.size() < merges) {
      int l = rnd.nextInt(next);
      int r = rnd.nextInt(next);
      if (seen.add(((long) l << 32) | r)) {
        pairs.add(new long[] {l, r, next++});
      }
    }
    java.util.Collections.shuffle(pairs, rnd); // ranks in any order, as a hostile file could have
    int[] lefts = new int[merges];
    int[] rights = new int[merges];
    int[] results = new int[merges];
    for (int i = 0; i < merges; i++) {
      lefts[i] = (int) pairs.get(i)[0];
      rights[i] = (int) pairs.get(i)[1];
      results[i] = (int) pairs.get(i)[2];
    }
    return new MergeTable(lefts, rights, results);
  }
}
