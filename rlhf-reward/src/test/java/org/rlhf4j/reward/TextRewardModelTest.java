package org.rlhf4j.reward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.ByteTokenizer;

class TextRewardModelTest {
  private static final ByteTokenizer TOK = ByteTokenizer.create();
  private static final int PAD = ByteTokenizer.PAD;

  /** Two rows, responses from position 4: a left-padded prompt with BOS, a response with EOS and right padding. */
  private static TokenBatch batch() {
    int[] ids = {
      PAD, ByteTokenizer.BOS, 'H', 'i', 'y', 'o', ByteTokenizer.EOS, PAD,
      ByteTokenizer.BOS, 'A', 'B', 'C', 'x', 'y', 'z', 'w'
    };
    int[] mask = {0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    return TokenBatch.of(2, 8, ids, mask);
  }

  @Test
  void decodesPromptAndResponseWithoutSpecialTokensAndScoresThem() {
    List<Completion> seen = new ArrayList<>();
    RewardModel rm = RewardModel.ofText(TOK, (prompt, response) -> {
      seen.add(new Completion(prompt, response));
      return prompt.length() * 10 + response.length();
    });
    assertArrayEquals(new double[] {22, 34}, rm.score(batch(), 4).toDoubleVector(), 0);
    assertEquals(List.of(new Completion("Hi", "yo"), new Completion("ABC", "xyzw")), seen);
  }

  @Test
  void batchedScorerGetsTheWholeBatchOnce() {
    List<List<Completion>> calls = new ArrayList<>();
    RewardModel rm = RewardModel.ofTexts(b -> {
      calls.add(b);
      return new double[] {1.5, -2};
    }).withTokenizer(TOK);
    assertArrayEquals(new double[] {1.5, -2}, rm.score(batch(), 4).toDoubleVector(), 0);
    assertEquals(1, calls.size());
    assertEquals(2, calls.get(0).size());
    // without a split the whole sequence is the response
    assertEquals(List.of(new Completion("", "Hiyo"), new Completion("", "ABCxyzw")), TextRewardModel.decode(batch(), 0, TOK));
  }

  @Test
  void badScoresAreErrorsNamingTheCompletion() {
    RlhfException nan = assertThrows(RlhfException.class,
        () -> RewardModel.ofText(TOK, (p, r) -> r.startsWith("x") ? Double.NaN : 0).score(batch(), 4));
    assertTrue(nan.getMessage().contains("NaN for completion 1"), nan.getMessage());
    RlhfException count = assertThrows(RlhfException.class,
        () -> RewardModel.ofTexts(b -> new double[1]).withTokenizer(TOK).score(batch(), 4));
    assertTrue(count.getMessage().contains("1 scores for 2 completions"), count.getMessage());
  }

  @Test
  void withoutTokenizerItSaysHowToGetOne() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> RewardModel.ofText((p, r) -> 0).score(batch(), 4));
    assertTrue(e.getMessage().contains("withTokenizer"), e.getMessage());
    assertTrue(RewardModel.ofText((p, r) -> 0).tokenizer().isEmpty());
  }

  @Test
  void plusAddsTwoRewardsOnTheSameSplit() {
    RewardModel len = RewardModel.ofText(TOK, (p, r) -> r.length());
    RewardModel bonus = RewardModel.ofText(TOK, (p, r) -> p.equals("Hi") ? 100 : 0);
    assertArrayEquals(new double[] {102, 4}, len.plus(bonus).score(batch(), 4).toDoubleVector(), 0);
    assertArrayEquals(new double[] {8, 14}, len.plus(len.plus(bonus)).score(batch()).toDoubleVector(), 0, "no split: the whole row is the response");
  }
}
