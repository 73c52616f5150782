package org.rlhf4j.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.core.sft.TokenizedSequence;
import org.rlhf4j.core.tokenizer.ByteTokenizer;

class TruncationPolicyTest {
  private static final ByteTokenizer TOK = ByteTokenizer.create();

  private static TruncationPolicy.Cut cut(TruncationPolicy p, int prompt, int response, int max) {
    return p.fit(prompt, response, max).orElseThrow();
  }

  @Test
  void cutsByHand() {
    for (TruncationPolicy p : TruncationPolicy.values()) {
      assertEquals(Optional.of(new TruncationPolicy.Cut(3, 4, false)), p.fit(3, 4, 7), p + " leaves a fitting pair alone");
    }
    assertEquals(new TruncationPolicy.Cut(2, 8, true), cut(TruncationPolicy.TRUNCATE_PROMPT_LEFT, 6, 8, 10));
    assertEquals(new TruncationPolicy.Cut(1, 9, true), cut(TruncationPolicy.TRUNCATE_PROMPT_LEFT, 6, 20, 10), "keeps one prompt token");
    assertEquals(new TruncationPolicy.Cut(6, 4, true), cut(TruncationPolicy.TRUNCATE_RESPONSE, 6, 8, 10));
    assertEquals(new TruncationPolicy.Cut(9, 1, true), cut(TruncationPolicy.TRUNCATE_RESPONSE, 20, 8, 10), "keeps one response token");
    assertEquals(new TruncationPolicy.Cut(5, 5, true), cut(TruncationPolicy.BALANCED, 20, 8, 10));
    assertEquals(new TruncationPolicy.Cut(2, 8, true), cut(TruncationPolicy.BALANCED, 2, 20, 10));
    assertEquals(Optional.empty(), TruncationPolicy.SKIP.fit(6, 8, 10));
    assertEquals(Optional.empty(), TruncationPolicy.FAIL.fit(6, 8, 10));
  }

  private static final List<SftExample> EXAMPLES = List.of(
      new SftExample("abcdefgh", "xyz"), new SftExample("ab", "x"), new SftExample("a", "uvwxyz0123"));

  @Test
  void sftDataAppliesThePolicyAndCounts() {
    // [BOS] prompt + completion EOS, max 8
    SftData left = SftData.fromExamples(EXAMPLES, TOK, 8, true, true, TruncationPolicy.TRUNCATE_PROMPT_LEFT);
    assertEquals(3, left.size());
    assertEquals(2, left.truncated());
    TokenizedSequence first = left.get(0);
    assertEquals("efghxyz", TOK.decode(first.ids(), true), "the prompt's end is kept");
    SftData skip = SftData.fromExamples(EXAMPLES, TOK, 8, true, true, TruncationPolicy.SKIP);
    assertEquals(1, skip.size());
    assertEquals(2, skip.dropped());
    RlhfException e = assertThrows(RlhfException.class, () -> SftData.fromExamples(EXAMPLES, TOK, 8, true, true, TruncationPolicy.FAIL));
    assertTrue(e.getMessage().contains("example 0 is 13 tokens"), e.getMessage());
  }

  @Test
  void sftTrainerTokenizesWithItsConfig() {
    SftTrainer t = SftTrainer.builder(SftConfig.builder().maxLength(8).addBos(false).completionOnlyLoss(false).truncation(TruncationPolicy.SKIP).build()).build();
    SftData d = t.tokenize(EXAMPLES, TOK);
    assertEquals(1, d.size(), "only ab+x fits in 8 under SKIP");
    assertEquals("abx", TOK.decode(d.get(0).ids(), true));
    assertEquals('a', d.get(0).ids()[0], "no BOS");
    assertEquals(0, d.get(0).targetMask()[0], "the first token is never a target");
    assertEquals(1, d.get(0).targetMask()[1], "the prompt is a target without completion-only loss");
    assertEquals("skip", t.config().toMap().get("truncation"));
  }
}
