package org.rlhf4j.reward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.data.TruncationPolicy;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.reward.data.Ranking;

class TokenizedRankingsTest {
  private static final ByteTokenizer TOK = ByteTokenizer.create();
  private static final List<Ranking> RANKINGS = List.of(
      Ranking.pairwise("abcdefgh", "xy", "xyzw"), Ranking.pairwise("p", "ok", "no"));

  @Test
  void thePromptIsCutAsMuchAsTheLongestResponseNeeds() {
    // [BOS] abcdefgh + xyzw EOS = 14 tokens > 10: keep the prompt's last 5 tokens for both responses
    TokenizedRankings t = TokenizedRankings.of(RANKINGS, TOK, 10, true, true, TruncationPolicy.TRUNCATE_PROMPT_LEFT);
    assertEquals(2, t.rankings().size());
    assertEquals(1, t.truncated());
    assertEquals(0, t.skipped());
    TokenizedRanking r = t.rankings().get(0);
    assertEquals(5, r.promptLength());
    assertEquals("defghxy", TOK.decode(r.sequences().get(0), true));
    assertEquals("defghxyzw", TOK.decode(r.sequences().get(1), true));
    assertEquals(ByteTokenizer.EOS, r.sequences().get(1)[9], "EOS kept");
  }

  @Test
  void responsesAreCutOrTheRankingSkippedOrRefused() {
    TokenizedRankings resp = TokenizedRankings.of(RANKINGS, TOK, 10, true, true, TruncationPolicy.TRUNCATE_RESPONSE);
    assertEquals("abcdefghx", TOK.decode(resp.rankings().get(0).sequences().get(1), true), "prompt kept, response cut");
    TokenizedRankings skip = TokenizedRankings.of(RANKINGS, TOK, 10, true, true, TruncationPolicy.SKIP);
    assertEquals(1, skip.rankings().size());
    assertEquals(1, skip.skipped());
    DataFormatException e = assertThrows(DataFormatException.class,
        () -> TokenizedRankings.of(RANKINGS, TOK, 10, true, true, TruncationPolicy.FAIL));
    assertTrue(e.getMessage().contains("longer than the maximum length 10"), e.getMessage());
  }
}
