package org.rlhf4j.reward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.reward.data.Ranking;

class RankingLossTest {

  @Test
  void onePairByHand() {
    // -log sigmoid(1) = log(1 + e^-1); d/dr_w = -sigmoid(-1), d/dr_l = +sigmoid(-1)
    RankingLoss.Result r = RankingLoss.compute(new double[] {1.0, 0.0}, new int[] {0}, new int[] {1}, new double[] {1}, 0, 0);
    assertEquals(Math.log(1 + Math.exp(-1)), r.loss(), 1e-12);
    double s = 1 / (1 + Math.exp(1));
    assertArrayEquals(new double[] {-s, s}, r.gradScores(), 1e-12);
    assertEquals(1.0, r.accuracy(), 0);
    assertEquals(1.0, r.margin(), 1e-12);
  }

  @Test
  void marginAndCenteringByHand() {
    // scores 0.3 (winner) and 1.1 (loser): delta = 0.3 - 1.1 - 0.5 = -1.3
    RankingLoss.Result r = RankingLoss.compute(new double[] {0.3, 1.1}, new int[] {0}, new int[] {1}, new double[] {1}, 0.5, 0.01);
    double sum = 1.4;
    assertEquals(Math.log(1 + Math.exp(1.3)) + 0.01 * sum * sum, r.loss(), 1e-12);
    double s = 1 / (1 + Math.exp(-1.3));
    assertArrayEquals(new double[] {-s + 0.02 * sum, s + 0.02 * sum}, r.gradScores(), 1e-12);
    assertEquals(0.0, r.accuracy(), 0);
  }

  @Test
  void weightsAverageOverPromptsNotPairs() {
    // Prompt A: one pair (weight 1); prompt B: three pairs of K=3 (weight 1/3 each). The loss is the
    // mean over prompts of each prompt's mean pair loss.
    double[] scores = {2.0, 0.0, 1.0, 0.5, -1.0};
    int[] w = {0, 2, 2, 3};
    int[] l = {1, 3, 4, 4};
    double[] wt = {1, 1.0 / 3, 1.0 / 3, 1.0 / 3};
    RankingLoss.Result r = RankingLoss.compute(scores, w, l, wt, 0, 0);
    double a = Math.log(1 + Math.exp(-2.0));
    double b = (Math.log(1 + Math.exp(-0.5)) + Math.log(1 + Math.exp(-2.0)) + Math.log(1 + Math.exp(-1.5))) / 3;
    assertEquals((a + b) / 2, r.loss(), 1e-12);
  }

  @Test
  void fourWayRankingExpandsIntoSixPairsInOneBatch() {
    Ranking r = Ranking.of("test", 1, "p", List.of("a", "b", "c", "d"), List.of(2, 0, 3, 1));
    assertEquals(6, r.pairs().size());
    r.pairs().forEach(p -> assertEquals(1.0 / 6, p.weight(), 1e-12));
    TokenizedRanking t = TokenizedRanking.of(r, ByteTokenizer.create(), 16, true, true);
    RankingBatch batch = RankingBatch.of(List.of(t), ByteTokenizer.PAD);
    assertEquals(4, batch.sequences().batchSize(), "K forward passes, not C(K,2)");
    assertArrayEquals(new int[] {2, 2, 2, 0, 0, 3}, batch.winners());
    assertArrayEquals(new int[] {0, 3, 1, 3, 1, 1}, batch.losers());
    for (double w : batch.weights()) {
      assertEquals(1.0 / 6, w, 1e-12);
    }
  }
}
