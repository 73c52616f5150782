package org.rlhf4j.core.tokenizer;

import com.google.common.base.Preconditions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.TreeMap;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer.Merge;

/**
 * Trains a GPT-2 style byte-level BPE tokenizer on text: GPT-2's pre-tokenizer splits the text into
 * pieces ({@link Gpt2PreTokenizer}), each piece's UTF-8 bytes are written in GPT-2's byte-level
 * alphabet ({@code Ġ} for a space), and the most frequent adjacent pair of symbols within pieces is
 * merged repeatedly until the vocabulary has {@code vocabSize} tokens (or no pair occurs twice).
 *
 * <p>The vocabulary is the 256 byte symbols (ids 0..255, in GPT-2's {@code encoder.json} order),
 * then the merged tokens in merge order, then {@code <|endoftext|>} last, as in GPT-2. Ties between
 * equally frequent pairs go to the pair whose left, then right, token id is smallest, so training
 * is deterministic (no hash order, no threads).
 *
 * <p>Pair counts are kept incrementally: a merge revisits only the distinct pieces that contain the
 * pair, and a priority queue with lazy deletion finds the next most frequent pair, so training on a
 * few MB of text takes seconds. The result is a {@link Gpt2BpeTokenizer}; save it with {@link
 * Tokenizers#save} (a checkpoint's {@code vocab.json} + {@code merges.txt} + {@code tokenizer.json})
 * or {@link Tokenizers#writeTokenizerJson} (a Hugging Face {@code tokenizer.json} that the {@code
 * tokenizers} library reads).
 */
public final class BpeTrainer {
  private final int vocabSize;
  private final int minFrequency;

  /**
   * A trainer.
   *
   * @param vocabSize the vocabulary size wanted, {@code <|endoftext|>} included: at least 257
   * @param minFrequency the fewest occurrences a pair needs to be merged, at least 1
   */
  public BpeTrainer(int vocabSize, int minFrequency) {
    Preconditions.checkArgument(vocabSize >= 257, "vocabSize must be at least 257 (256 bytes + <|endoftext|>), got %s", vocabSize);
    Preconditions.checkArgument(minFrequency >= 1, "minFrequency must be at least 1, got %s", minFrequency);
    this.vocabSize = vocabSize;
    this.minFrequency = minFrequency;
  }

  /** A trainer for {@code vocabSize} tokens that merges pairs seen at least twice. */
  public static BpeTrainer of(int vocabSize) {
    return new BpeTrainer(vocabSize, 2);
  }

  /**
   * Trains on {@code texts} (each pre-tokenized on its own, so pieces never span two texts).
   *
   * @throws IllegalArgumentException if {@code texts} is null or holds a null
   */
  public Gpt2BpeTokenizer train(List<String> texts) {
    Preconditions.checkNotNull(texts, "texts");
    // 1. Distinct pieces (as byte-level strings) with their counts, in first-seen order.
    Map<String, int[]> pieceCounts = new LinkedHashMap<>();
    for (int t = 0; t < texts.size(); t++) {
      String s = texts.get(t);
      Preconditions.checkArgument(s != null, "texts[%s] is null", t);
      int i = 0;
      while (i < s.length()) {
        int end = Gpt2PreTokenizer.pieceEnd(s, i, s.length());
        pieceCounts.computeIfAbsent(s.substring(i, end), k -> new int[1])[0]++;
        i = end;
      }
    }
    // 2. Symbols: ids 0..255 are the byte symbols in GPT-2's order (printable bytes first).
    List<String> tokens = new ArrayList<>();
    int[] byteId = new int[256];
    for (int b = 0; b < 256; b++) {
      if (ByteLevel.charOf(b) < 256) {
        byteId[b] = tokens.size();
        tokens.add(String.valueOf(ByteLevel.charOf(b)));
      }
    }
    for (int b = 0; b < 256; b++) {
      if (ByteLevel.charOf(b) >= 256) {
        byteId[b] = tokens.size();
        tokens.add(String.valueOf(ByteLevel.charOf(b)));
      }
    }
    int n = pieceCounts.size();
    int[][] words = new int[n][];
    int[] wordLen = new int[n];
    long[] freq = new long[n];
    int w = 0;
    for (Map.Entry<String, int[]> e : pieceCounts.entrySet()) {
      byte[] bytes = Utf8.encode(e.getKey());
      int[] sym = new int[bytes.length];
      for (int j = 0; j < bytes.length; j++) {
        sym[j] = byteId[bytes[j] & 0xFF];
      }
      words[w] = sym;
      wordLen[w] = sym.length;
      freq[w] = e.getValue()[0];
      w++;
    }
    // 3. Pair counts and where each pair occurs.
    Map<Long, long[]> counts = new HashMap<>();
    Map<Long, IntList> where = new HashMap<>();
    for (int i = 0; i < n; i++) {
      addPairs(words[i], wordLen[i], freq[i], i, counts, where);
    }
    PriorityQueue<long[]> queue = new PriorityQueue<>(BpeTrainer::compareEntries);
    for (Map.Entry<Long, long[]> e : counts.entrySet()) {
      queue.add(new long[] {e.getValue()[0], e.getKey()});
    }
    List<Merge> merges = new ArrayList<>();
    int[] mark = new int[n];
    int epoch = 0;
    while (tokens.size() < vocabSize - 1 && !queue.isEmpty()) {
      long[] top = queue.poll();
      long[] current = counts.get(top[1]);
      if (current == null || current[0] != top[0]) {
        continue; // stale entry; the current count has its own entry
      }
      if (top[0] < minFrequency) {
        break;
      }
      int a = (int) (top[1] >>> 32);
      int b = (int) top[1];
      int c = tokens.size();
      tokens.add(tokens.get(a) + tokens.get(b));
      merges.add(new Merge(tokens.get(a), tokens.get(b)));
      IntList occurrences = where.remove(top[1]);
      epoch++;
      Map<Long, long[]> changed = new TreeMap<>();
      for (int k = 0; k < occurrences.size; k++) {
        int i = occurrences.data[k];
        if (mark[i] == epoch) {
          continue;
        }
        mark[i] = epoch;
        int[] sym = words[i];
        int len = wordLen[i];
        if (!contains(sym, len, a, b)) {
          continue;
        }
        removePairs(sym, len, freq[i], counts, changed);
        int out = 0;
        for (int j = 0; j < len; j++) {
          if (j + 1 < len && sym[j] == a && sym[j + 1] == b) {
            sym[out++] = c;
            j++;
          } else {
            sym[out++] = sym[j];
          }
        }
        wordLen[i] = out;
        addPairs(sym, out, freq[i], i, counts, where);
        for (int j = 0; j + 1 < out; j++) {
          long key = key(sym[j], sym[j + 1]);
          changed.put(key, counts.get(key));
        }
      }
      counts.remove(top[1]);
      for (Map.Entry<Long, long[]> e : changed.entrySet()) {
        long[] cnt = counts.get(e.getKey());
        if (cnt != null && cnt[0] > 0) {
          queue.add(new long[] {cnt[0], e.getKey()});
        } else if (cnt != null) {
          counts.remove(e.getKey());
        }
      }
    }
    Map<String, Integer> vocab = new LinkedHashMap<>();
    for (int id = 0; id < tokens.size(); id++) {
      vocab.put(tokens.get(id), id);
    }
    vocab.put(Gpt2BpeTokenizer.END_OF_TEXT, tokens.size());
    return Gpt2BpeTokenizer.of(vocab, merges);
  }

  /** Higher count first; ties: smaller (left, right) id pair first. */
  private static int compareEntries(long[] x, long[] y) {
    int c = Long.compare(y[0], x[0]);
    return c != 0 ? c : Long.compare(x[1], y[1]);
  }

  private static long key(int a, int b) {
    return ((long) a << 32) | (b & 0xFFFFFFFFL);
  }

  private static boolean contains(int[] sym, int len, int a, int b) {
    for (int j = 0; j + 1 < len; j++) {
      if (sym[j] == a && sym[j + 1] == b) {
        return true;
      }
    }
    return false;
  }

  private static void addPairs(int[] sym, int len, long f, int word, Map<Long, long[]> counts, Map<Long, IntList> where) {
    for (int j = 0; j + 1 < len; j++) {
      long key = key(sym[j], sym[j + 1]);
      counts.computeIfAbsent(key, k -> new long[1])[0] += f;
      IntList l = where.computeIfAbsent(key, k -> new IntList());
      if (l.size == 0 || l.data[l.size - 1] != word) {
        l.add(word);
      }
    }
  }

  private static void removePairs(int[] sym, int len, long f, Map<Long, long[]> counts, Map<Long, long[]> changed) {
    for (int j = 0; j + 1 < len; j++) {
      long key = key(sym[j], sym[j + 1]);
      long[] cnt = counts.get(key);
      cnt[0] -= f;
      changed.put(key, cnt);
    }
  }

  /** A growable list of word indices. */
  private static final class IntList {
    int[] data = new int[4];
    int size;

    void add(int v) {
      if (size == data.length) {
        data = Arrays.copyOf(data, size * 2);
      }
      data[size++] = v;
    }
  }

  @Override
  public String toString() {
    return "BpeTrainer(vocabSize=" + vocabSize + ", minFrequency=" + minFrequency + ")";
  }
}
