package org.rlhf4j.reward;

import com.google.common.collect.ImmutableList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.rlhf4j.core.data.TruncationPolicy;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.data.Ranking;

/**
 * Rankings tokenized under a {@link TruncationPolicy}, with the number of rankings it shortened
 * and skipped. The K responses of a ranking share one prompt, so the prompt is cut as much as its
 * longest response needs; {@link TruncationPolicy#SKIP} leaves out the whole ranking.
 */
public record TokenizedRankings(ImmutableList<TokenizedRanking> rankings, int truncated, int skipped) {

  /**
   * Tokenizes {@code rankings} as {@code [BOS] prompt response [EOS]} sequences of at most {@code
   * maxLength} tokens. {@link TruncationPolicy#FAIL} throws a {@code DataFormatException} naming the
   * record of the first one too long.
   */
  public static TokenizedRankings of(
      List<Ranking> rankings, Tokenizer tok, int maxLength, boolean addBos, boolean appendEos, TruncationPolicy policy) {
    List<TokenizedRanking> out = new ArrayList<>(rankings.size());
    int truncated = 0;
    int skipped = 0;
    for (Ranking r : rankings) {
      if (policy == TruncationPolicy.FAIL) {
        out.add(TokenizedRanking.of(r, tok, maxLength, addBos, appendEos));
        continue;
      }
      int[] head = tok.encodePrompt(r.prompt(), addBos);
      List<int[]> tails = new ArrayList<>(r.k());
      int p = head.length;
      boolean cut = false;
      boolean skip = false;
      for (String response : r.responses()) {
        int[] resp = tok.encode(response);
        int[] tail = appendEos ? Arrays.copyOf(resp, resp.length + 1) : resp;
        if (appendEos) {
          tail[resp.length] = tok.eosId();
        }
        tails.add(tail);
        Optional<TruncationPolicy.Cut> c = policy.fit(head.length, tail.length, maxLength);
        if (c.isEmpty()) {
          skip = true;
          break;
        }
        cut |= c.get().truncated();
        p = Math.min(p, c.get().promptTokens());
      }
      if (skip) {
        skipped++;
        continue;
      }
      List<int[]> seqs = new ArrayList<>(r.k());
      for (int[] tail : tails) {
        int c = Math.min(tail.length, maxLength - p);
        int[] s = new int[p + c];
        System.arraycopy(head, head.length - p, s, 0, p);
        System.arraycopy(tail, 0, s, p, c);
        seqs.add(s);
      }
      truncated += cut ? 1 : 0;
      out.add(new TokenizedRanking(ImmutableList.copyOf(seqs), r.order(), p));
    }
    return new TokenizedRankings(ImmutableList.copyOf(out), truncated, skipped);
  }
}
