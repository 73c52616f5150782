package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.List;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * Scores held-out rankings with any {@link RewardModel}: pairwise accuracy, mean margin and the
 * fraction of rankings reproduced exactly.
 */
public final class RewardEvaluator {
  private RewardEvaluator() {}

  /** Evaluates {@code rm} on tokenized rankings, {@code rankingsPerBatch} at a time. */
  public static RewardEvaluation evaluate(RewardModel rm, List<TokenizedRanking> rankings, Tokenizer tok, int rankingsPerBatch) {
    checkArgument(!rankings.isEmpty(), "no rankings to evaluate");
    checkArgument(rankingsPerBatch >= 1, "rankingsPerBatch must be >= 1");
    int pairs = 0;
    int correct = 0;
    double margin = 0;
    int exact = 0;
    double rewardSum = 0;
    int responses = 0;
    for (int start = 0; start < rankings.size(); start += rankingsPerBatch) {
      List<TokenizedRanking> chunk = rankings.subList(start, Math.min(rankings.size(), start + rankingsPerBatch));
      RankingBatch batch = RankingBatch.of(chunk, tok.padId());
      double[] scores = rm.score(batch.sequences()).toDoubleVector();
      for (double s : scores) {
        rewardSum += s;
      }
      responses += scores.length;
      for (int p = 0; p < batch.winners().length; p++) {
        double d = scores[batch.winners()[p]] - scores[batch.losers()[p]];
        pairs++;
        correct += d > 0 ? 1 : 0;
        margin += d;
      }
      for (int r = 0; r < chunk.size(); r++) {
        TokenizedRanking tr = chunk.get(r);
        int off = batch.rankingOffsets()[r];
        boolean ordered = true;
        for (int i = 0; i + 1 < tr.k() && ordered; i++) {
          ordered = scores[off + tr.order().get(i)] > scores[off + tr.order().get(i + 1)];
        }
        exact += ordered ? 1 : 0;
      }
    }
    return new RewardEvaluation(
        correct / (double) pairs, margin / pairs, exact / (double) rankings.size(), rewardSum / responses, pairs, rankings.size());
  }
}
