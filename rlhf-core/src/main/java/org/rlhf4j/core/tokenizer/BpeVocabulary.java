package org.rlhf4j.core.tokenizer;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer.Merge;

/**
 * A validated byte-level BPE vocabulary: the tokens by id, their bytes, the merge table and which
 * ids are special. Immutable.
 *
 * <p>Rules: ids are exactly {@code 0..size-1}, each used once; all 256 byte-level single-character
 * tokens are present; every merge's two parts and its result are byte-level tokens of the
 * vocabulary and no pair is merged twice. A token that is neither a single byte nor the result of a
 * merge can never come out of BPE, so it is special (for GPT-2 that is exactly {@code
 * <|endoftext|>}); its text is taken literally, not as byte-level characters.
 */
final class BpeVocabulary {
  final ImmutableMap<String, Integer> ids;
  final ImmutableList<Merge> merges;
  final ImmutableMap<String, Integer> specials;
  final String[] tokens;
  final byte[][] bytes;
  final boolean[] special;
  final int[] byteIds;
  final MergeTable table;

  private BpeVocabulary(
      ImmutableMap<String, Integer> ids,
      ImmutableList<Merge> merges,
      ImmutableMap<String, Integer> specials,
      String[] tokens,
      byte[][] bytes,
      boolean[] special,
      int[] byteIds,
      MergeTable table) {
    this.ids = ids;
    this.merges = merges;
    this.specials = specials;
    this.tokens = tokens;
    this.bytes = bytes;
    this.special = special;
    this.byteIds = byteIds;
    this.table = table;
  }

  /**
   * Validates and indexes a vocabulary.
   *
   * @param vocab token to id
   * @param vocabSource the vocabulary's file (for messages)
   * @param merges the merges, highest priority first
   * @param mergesSource the merges' file (for messages)
   * @param mergeLines the 1-based line (or entry index) of each merge in {@code mergesSource}, or
   *     null to use the merge's index + 1
   * @throws DataFormatException naming the file and line of a bad merge
   * @throws RlhfException naming the file for a problem of the vocabulary as a whole
   */
  static BpeVocabulary build(
      Map<String, Integer> vocab,
      String vocabSource,
      List<Merge> merges,
      String mergesSource,
      long[] mergeLines) {
    int size = vocab.size();
    String[] tokens = new String[size];
    for (Map.Entry<String, Integer> e : vocab.entrySet()) {
      int id = e.getValue();
      if (id < 0 || id >= size) {
        throw new RlhfException(
            vocabSource
                + ": ids must be 0.."
                + (size - 1)
                + " without gaps for "
                + size
                + " tokens, but token "
                + quote(e.getKey())
                + " has id "
                + id);
      }
      if (tokens[id] != null) {
        throw new RlhfException(
            vocabSource
                + ": id "
                + id
                + " is used by both "
                + quote(tokens[id])
                + " and "
                + quote(e.getKey()));
      }
      tokens[id] = e.getKey();
    }
    int[] byteIds = new int[256];
    boolean[] producible = new boolean[size];
    for (int b = 0; b < 256; b++) {
      String t = String.valueOf(ByteLevel.charOf(b));
      Integer id = vocab.get(t);
      if (id == null) {
        throw new RlhfException(
            vocabSource
                + ": missing the byte-level token "
                + quote(t)
                + " for byte 0x"
                + String.format("%02X", b)
                + "; a GPT-2 byte-level vocabulary has all 256");
      }
      byteIds[b] = id;
      producible[id] = true;
    }
    int m = merges.size();
    int[] lefts = new int[m];
    int[] rights = new int[m];
    int[] results = new int[m];
    Map<Merge, Long> seen = new HashMap<>(m * 2);
    for (int r = 0; r < m; r++) {
      Merge merge = merges.get(r);
      long line = mergeLines == null ? r + 1 : mergeLines[r];
      Long first = seen.putIfAbsent(merge, line);
      if (first != null) {
        throw new DataFormatException(
            mergesSource, line, "duplicate merge " + merge + " (first at " + first + ")");
      }
      lefts[r] =
          mergePart(vocab, merge, merge.left(), "first part", vocabSource, mergesSource, line);
      rights[r] =
          mergePart(vocab, merge, merge.right(), "second part", vocabSource, mergesSource, line);
      results[r] =
          mergePart(
              vocab,
              merge,
              merge.left() + merge.right(),
              "result",
              vocabSource,
              mergesSource,
              line);
      producible[results[r]] = true;
    }
    byte[][] bytes = new byte[size][];
    boolean[] special = new boolean[size];
    ImmutableMap.Builder<String, Integer> ids = ImmutableMap.builderWithExpectedSize(size);
    ImmutableMap.Builder<String, Integer> specials = ImmutableMap.builder();
    for (int id = 0; id < size; id++) {
      ids.put(tokens[id], id);
      special[id] = !producible[id];
      if (special[id]) {
        if (tokens[id].isEmpty()) {
          throw new RlhfException(vocabSource + ": token " + id + " is the empty string");
        }
        specials.put(tokens[id], id);
        bytes[id] = tokens[id].getBytes(StandardCharsets.UTF_8);
      } else {
        bytes[id] = ByteLevel.bytesOf(tokens[id]);
      }
    }
    return new BpeVocabulary(
        ids.buildOrThrow(),
        ImmutableList.copyOf(merges),
        specials.buildOrThrow(),
        tokens,
        bytes,
        special,
        byteIds,
        new MergeTable(lefts, rights, results));
  }

  private static int mergePart(
      Map<String, Integer> vocab,
      Merge merge,
      String token,
      String what,
      String vocabSource,
      String mergesSource,
      long line) {
    if (!ByteLevel.isByteLevel(token)) {
      throw new DataFormatException(
          mergesSource,
          line,
          "merge "
              + merge
              + ": "
              + what
              + " "
              + quote(token)
              + " is not spelled with GPT-2 byte-level characters");
    }
    Integer id = vocab.get(token);
    if (id == null) {
      throw new DataFormatException(
          mergesSource,
          line,
          "merge "
              + merge
              + ": "
              + what
              + " "
              + quote(token)
              + " is not in the vocabulary "
              + vocabSource);
    }
    return id;
  }

  /** {@code s} as a JSON string literal, so that odd characters show in messages. */
  static String quote(String s) {
    StringBuilder sb = new StringBuilder("\"");
    JsonStringEncoder.getInstance().quoteAsString(s, sb);
    return sb.append('"').toString();
  }
}
