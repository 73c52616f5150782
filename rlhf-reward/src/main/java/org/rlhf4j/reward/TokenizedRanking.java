package org.rlhf4j.reward;

import com.google.common.collect.ImmutableList;
import java.util.ArrayList;
import java.util.List;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.data.Ranking;

/**
 * A {@link Ranking} tokenized for the reward model: one sequence {@code [BOS] prompt response [EOS]}
 * per response, and the human order (indices, best first). Immutable.
 */
public record TokenizedRanking(ImmutableList<int[]> sequences, ImmutableList<Integer> order, int promptLength) {

  /**
   * Tokenizes {@code r}.
   *
   * @throws DataFormatException naming the record if a (prompt + response) exceeds {@code maxLength}
   */
  public static TokenizedRanking of(Ranking r, Tokenizer tok, int maxLength, boolean addBos, boolean appendEos) {
    int[] head = tok.encodePrompt(r.prompt(), addBos);
    List<int[]> seqs = new ArrayList<>(r.k());
    for (int i = 0; i < r.k(); i++) {
      int[] resp = tok.encode(r.responses().get(i));
      int len = head.length + resp.length + (appendEos ? 1 : 0);
      if (len > maxLength) {
        throw new DataFormatException(
            r.source(),
            r.line(),
            "response " + i + " with its prompt is " + len + " tokens, longer than the maximum length " + maxLength
                + " (the model's context)");
      }
      int[] s = new int[len];
      System.arraycopy(head, 0, s, 0, head.length);
      int p = head.length;
      System.arraycopy(resp, 0, s, p, resp.length);
      if (appendEos) {
        s[len - 1] = tok.eosId();
      }
      seqs.add(s);
    }
    return new TokenizedRanking(ImmutableList.copyOf(seqs), r.order(), head.length);
  }

  /** K. */
  public int k() {
    return sequences.size();
  }
}
