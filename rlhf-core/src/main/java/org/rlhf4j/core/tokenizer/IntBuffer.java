package org.rlhf4j.core.tokenizer;

import java.util.Arrays;

/** A growable {@code int} array for collecting ids; not thread-safe (one per call). */
final class IntBuffer {
  private int[] a;
  private int size;

  IntBuffer(int capacity) {
    a = new int[Math.max(4, capacity)];
  }

  void add(int v) {
    if (size == a.length) {
      a = Arrays.copyOf(a, size * 2);
    }
    a[size++] = v;
  }

  void addAll(int[] values, int from, int count) {
    if (size + count > a.length) {
      a = Arrays.copyOf(a, Math.max(size * 2, size + count));
    }
    System.arraycopy(values, from, a, size, count);
    size += count;
  }

  int[] toArray() {
    return Arrays.copyOf(a, size);
  }
}
