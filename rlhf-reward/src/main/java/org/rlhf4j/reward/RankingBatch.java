package org.rlhf4j.reward;

import java.util.ArrayList;
import java.util.List;
import org.rlhf4j.core.model.TokenBatch;

/**
 * Several rankings in one batch: every response of every ranking is one row (so K forward passes per
 * prompt, not C(K,2)), and the pairs index those rows, each prompt's C(K,2) pairs weighted
 * 1/C(K,2).
 */
record RankingBatch(TokenBatch sequences, int[] winners, int[] losers, double[] weights, int[] rankingOffsets, List<TokenizedRanking> rankings) {

  static RankingBatch of(List<TokenizedRanking> rankings, int padId) {
    List<int[]> rows = new ArrayList<>();
    List<int[]> pairs = new ArrayList<>();
    List<Double> weights = new ArrayList<>();
    int[] offsets = new int[rankings.size()];
    for (int r = 0; r < rankings.size(); r++) {
      TokenizedRanking tr = rankings.get(r);
      int offset = rows.size();
      offsets[r] = offset;
      rows.addAll(tr.sequences());
      int k = tr.k();
      double w = 2.0 / (k * (k - 1.0));
      for (int i = 0; i < k; i++) {
        for (int j = i + 1; j < k; j++) {
          pairs.add(new int[] {offset + tr.order().get(i), offset + tr.order().get(j)});
          weights.add(w);
        }
      }
    }
    int[] win = new int[pairs.size()];
    int[] lose = new int[pairs.size()];
    double[] wt = new double[pairs.size()];
    for (int p = 0; p < pairs.size(); p++) {
      win[p] = pairs.get(p)[0];
      lose[p] = pairs.get(p)[1];
      wt[p] = weights.get(p);
    }
    return new RankingBatch(TokenBatch.rightPadded(rows, padId), win, lose, wt, offsets, rankings);
  }
}
