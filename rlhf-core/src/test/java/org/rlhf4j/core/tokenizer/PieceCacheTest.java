package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class PieceCacheTest {
  private static int[] lookup(PieceCache cache, String text, int start, int end) {
    IntBuffer out = new IntBuffer(4);
    out.add(-7);
    boolean hit = cache.appendIfPresent(text, start, end, PieceCache.hash(text, start, end), out);
    int[] all = out.toArray();
    assertTrue(hit || all.length == 1, "a miss must append nothing");
    return hit ? java.util.Arrays.copyOfRange(all, 1, all.length) : null;
  }

  @Test
  void findsPiecesInsideLargerStrings() {
    PieceCache cache = new PieceCache();
    cache.put(" world", PieceCache.hash(" world", 0, 6), new int[] {995});
    assertArrayEquals(new int[] {995}, lookup(cache, "hello world!", 5, 11));
    assertTrue(lookup(cache, "hello worlds", 5, 12) == null);
    assertTrue(lookup(cache, "hello World", 5, 11) == null);
    String longPiece = "x".repeat(PieceCache.MAX_CHARS + 1);
    cache.put(longPiece, PieceCache.hash(longPiece, 0, longPiece.length()), new int[] {1});
    assertTrue(
        lookup(cache, longPiece, 0, longPiece.length()) == null, "long pieces are not cached");
  }

  @Test
  void staysCorrectWhenFarMorePiecesThanSlotsCollide() {
    PieceCache cache = new PieceCache();
    Random rnd = new Random(2);
    int n = PieceCache.SLOTS * 3;
    String[] pieces = new String[n];
    for (int i = 0; i < n; i++) {
      pieces[i] = Integer.toString(rnd.nextInt(), 36);
      cache.put(
          pieces[i],
          PieceCache.hash(pieces[i], 0, pieces[i].length()),
          new int[] {pieces[i].hashCode(), i});
    }
    int hits = 0;
    for (int i = 0; i < n; i++) {
      int[] ids = lookup(cache, pieces[i], 0, pieces[i].length());
      if (ids != null) {
        hits++;
        assertTrue(ids[0] == pieces[i].hashCode(), "wrong entry for " + pieces[i]);
      }
    }
    assertTrue(hits <= PieceCache.SLOTS, "bounded: " + hits);
    assertTrue(hits > PieceCache.SLOTS / 2, "recent pieces are kept: " + hits);
    String last = pieces[n - 1];
    assertFalse(lookup(cache, last, 0, last.length()) == null);
  }
}
