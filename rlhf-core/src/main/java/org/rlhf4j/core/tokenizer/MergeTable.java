package org.rlhf4j.core.tokenizer;

import com.google.common.base.Preconditions;
import java.util.Arrays;

/**
 * The BPE merge rules as an open-addressing hash table from a pair of token ids to the pair's rank
 * (its 0-based position in the merges file, lower merges first) and the id of the merged token,
 * plus the merge loop itself. Immutable after construction, so it is safe to share between threads.
 *
 * <p>{@link #apply} reproduces OpenAI's {@code encoder.py} exactly: repeatedly take the pair with
 * the lowest rank and merge all its non-overlapping occurrences left to right. Short words use that
 * algorithm directly on an {@code int[]}; long words (where it would be quadratic) use a linked
 * list and a heap, processing one rank at a time so that the result is the same for any merges
 * file.
 */
final class MergeTable {
  /** Words up to this many symbols are merged with the simple quadratic scan. */
  static final int SMALL_WORD = 48;

  private static final long EMPTY = -1L;

  private final long[] keys;
  private final int[] ranks;
  private final int[] results;
  private final int shift;

  /**
   * A table where merge {@code r} joins {@code lefts[r]} and {@code rights[r]} into {@code
   * results[r]}. Pairs must be distinct.
   */
  MergeTable(int[] lefts, int[] rights, int[] results) {
    Preconditions.checkArgument(
        lefts.length == rights.length && lefts.length == results.length,
        "lefts, rights and results differ in length: %s, %s, %s",
        lefts.length,
        rights.length,
        results.length);
    int capacity = Integer.highestOneBit(Math.max(4, lefts.length * 2) - 1) << 1;
    this.keys = new long[capacity];
    this.ranks = new int[capacity];
    this.results = results.clone();
    this.shift = 64 - Integer.numberOfTrailingZeros(capacity);
    Arrays.fill(keys, EMPTY);
    for (int r = 0; r < lefts.length; r++) {
      long key = key(lefts[r], rights[r]);
      int slot = slot(key);
      while (keys[slot] != EMPTY) {
        Preconditions.checkArgument(keys[slot] != key, "duplicate merge pair at rank %s", r);
        slot = (slot + 1) & (capacity - 1);
      }
      keys[slot] = key;
      ranks[slot] = r;
    }
  }

  private static long key(int left, int right) {
    return ((long) left << 32) | (right & 0xFFFFFFFFL);
  }

  private int slot(long key) {
    return (int) ((key * 0x9E3779B97F4A7C15L) >>> shift);
  }

  /** The number of merges. */
  int size() {
    return results.length;
  }

  /** The rank of merging {@code left} and {@code right}, or -1 if there is no such merge. */
  int rank(int left, int right) {
    long key = key(left, right);
    int mask = keys.length - 1;
    for (int slot = slot(key); ; slot = (slot + 1) & mask) {
      long k = keys[slot];
      if (k == key) {
        return ranks[slot];
      }
      if (k == EMPTY) {
        return -1;
      }
    }
  }

  /** The id of the token that merge {@code rank} produces. */
  int result(int rank) {
    return results[rank];
  }

  /** The ids left after applying every applicable merge to {@code symbols} (not modified). */
  int[] apply(int[] symbols) {
    if (symbols.length < 2) {
      return symbols.clone();
    }
    return symbols.length <= SMALL_WORD ? applyScan(symbols) : applyHeap(symbols);
  }

  /** {@link #apply} by repeated scans; quadratic in the word length, fastest for short words. */
  int[] applyScan(int[] symbols) {
    int[] s = symbols.clone();
    int n = s.length;
    while (n > 1) {
      int best = Integer.MAX_VALUE;
      int at = -1;
      for (int i = 0; i + 1 < n; i++) {
        int r = rank(s[i], s[i + 1]);
        if (r >= 0 && r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) {
        break;
      }
      int left = s[at];
      int right = s[at + 1];
      int merged = results[best];
      int j = at;
      for (int i = at; i < n; ) {
        if (i + 1 < n && s[i] == left && s[i + 1] == right) {
          s[j++] = merged;
          i += 2;
        } else {
          s[j++] = s[i++];
        }
      }
      n = j;
    }
    return n == s.length ? s : Arrays.copyOf(s, n);
  }

  /** {@link #apply} with a linked list and a heap of (rank, position); O(n log n). */
  int[] applyHeap(int[] symbols) {
    int n = symbols.length;
    int[] sym = symbols.clone();
    int[] next = new int[n];
    int[] prev = new int[n];
    LongHeap heap = new LongHeap(n);
    for (int i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
      if (i + 1 < n) {
        push(heap, sym, i, i + 1);
      }
    }
    int[] changed = new int[n];
    while (!heap.isEmpty()) {
      int rank = (int) (heap.peek() >>> 32);
      int nChanged = 0;
      // Merge every occurrence of this rank's pair, left to right, before looking at new pairs.
      while (!heap.isEmpty() && (int) (heap.peek() >>> 32) == rank) {
        int p = (int) heap.pop();
        int q = sym[p] < 0 ? -1 : next[p];
        if (q < 0 || rank(sym[p], sym[q]) != rank) {
          continue; // stale: p was merged away, or its pair changed
        }
        sym[p] = results[rank];
        sym[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0) {
          prev[next[q]] = p;
        }
        changed[nChanged++] = p;
        if (prev[p] >= 0) {
          changed[nChanged++] = prev[p];
        }
        if (nChanged + 2 > changed.length) {
          changed = Arrays.copyOf(changed, changed.length * 2);
        }
      }
      for (int k = 0; k < nChanged; k++) {
        int p = changed[k];
        if (sym[p] >= 0 && next[p] >= 0) {
          push(heap, sym, p, next[p]);
        }
      }
    }
    int count = 0;
    for (int p = 0; p >= 0; p = next[p]) {
      count++;
    }
    int[] out = new int[count];
    int j = 0;
    for (int p = 0; p >= 0; p = next[p]) {
      out[j++] = sym[p];
    }
    return out;
  }

  private void push(LongHeap heap, int[] sym, int p, int q) {
    int r = rank(sym[p], sym[q]);
    if (r >= 0) {
      heap.push(((long) r << 32) | p);
    }
  }

  /** A binary min-heap of longs. */
  private static final class LongHeap {
    private long[] a;
    private int size;

    LongHeap(int capacity) {
      a = new long[Math.max(4, capacity)];
    }

    boolean isEmpty() {
      return size == 0;
    }

    long peek() {
      return a[0];
    }

    void push(long v) {
      if (size == a.length) {
        a = Arrays.copyOf(a, size * 2);
      }
      int i = size++;
      while (i > 0) {
        int parent = (i - 1) >>> 1;
        if (a[parent] <= v) {
          break;
        }
        a[i] = a[parent];
        i = parent;
      }
      a[i] = v;
    }

    long pop() {
      long top = a[0];
      long v = a[--size];
      int i = 0;
      while (true) {
        int c = 2 * i + 1;
        if (c >= size) {
          break;
        }
        if (c + 1 < size && a[c + 1] < a[c]) {
          c++;
        }
        if (v <= a[c]) {
          break;
        }
        a[i] = a[c];
        i = c;
      }
      a[i] = v;
      return top;
    }
  }
}
