package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class PromptPoolTest {
  @Test
  void keepsThePromptsThatFitWithTheNewTokensAndCountsTheRest() {
    PpoConfig cfg = PpoTrainerTest.config().maxNewTokens(8).build(); // BOS added by default
    PromptPool pool = PromptPool.fitting(List.of("1", "123456789", "1234567890123456", ""), new DigitTokenizer(), cfg, 24);
    // 24 - 8 = 16 tokens for the prompt with BOS: "1" (2) and "123456789" (10) fit, 16 digits (17) do not
    assertEquals(List.of("1", "123456789"), pool.prompts());
    assertEquals(1, pool.tooLong());
    assertEquals(1, pool.empty());
    assertEquals("2 of 4 prompts fit (1 longer than 16 tokens, 1 empty)", pool.summary());
  }
}
