package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.reward.RewardModel;

/** Text-level rewards, the texts in each step's result, and the completions table. */
class PpoTextHooksTest {
  private static final DigitTokenizer TOK = new DigitTokenizer();

  private static long sevens(String s) {
    return s.chars().filter(c -> c == '7').count();
  }

  private static PpoTrainer.Builder builder(RewardModel rm) {
    GptModel sft = PpoTrainerTest.sftModel();
    return PpoTrainer.builder(PpoTrainerTest.config().build())
        .policy(sft.withNewScalarHead(3)).reference(sft).rewardModel(rm).tokenizer(TOK).prompts(PpoTrainerTest.prompts());
  }

  @Test
  void aTextRewardTrainsExactlyLikeTheSameRuleOnTokens() {
    List<PpoStats> tokens = builder(new PpoTrainerTest.CountTarget()).build().train(3);
    List<PpoStats> texts = builder(RewardModel.ofText((prompt, response) -> sevens(response))).build().train(3);
    for (int i = 0; i < 3; i++) {
      for (String k : List.of("objective/scores", "objective/kl", "loss/policy_avg")) {
        assertEquals(tokens.get(i).get(k), texts.get(i).get(k), 0.0, "step " + (i + 1) + " " + k);
      }
    }
  }

  @Test
  void eachStepCarriesItsPromptsResponsesAndScores() {
    PpoTrainer t = builder(RewardModel.ofText((prompt, response) -> sevens(response) + 0.5 * prompt.length())).build();
    List<String> prompts = new ArrayList<>(PpoTrainerTest.prompts().subList(0, 16));
    PpoStats s = t.step(prompts);
    assertEquals(16, s.completions().size());
    double sum = 0;
    for (int i = 0; i < 16; i++) {
      ScoredCompletion c = s.completions().get(i);
      assertEquals(prompts.get(i), c.prompt());
      assertTrue(c.response().chars().allMatch(ch -> ch >= '0' && ch <= '9'), "special tokens removed: " + c.response());
      assertEquals(sevens(c.response()) + 0.5 * c.prompt().length(), c.score(), 0.0, c.toString());
      assertTrue(Double.isFinite(c.kl()), "finite KL");
      sum += c.score();
    }
    assertEquals(s.get("objective/raw_scores"), sum / 16, 1e-12);
  }

  @Test
  void completionsTablePrintsEveryNthStepAndJsonlKeepsEveryCompletion(@TempDir Path tmp) throws Exception {
    List<String> lines = new ArrayList<>();
    Path file = tmp.resolve("completions.jsonl");
    try (CompletionsTable jsonl = CompletionsTable.jsonl(file, 1)) {
      builder(RewardModel.ofText((p, r) -> sevens(r)))
          .stepListener(CompletionsTable.to(lines::add, 2, 3)).stepListener(jsonl).build().train(4);
    }
    assertEquals(2, lines.size(), "steps 2 and 4");
    String table = lines.get(0);
    assertTrue(table.startsWith("completions at step 2\n"), table);
    assertEquals(3 + 5, table.split("\n").length, "title, 3 rules, header and 3 rows: " + table);
    assertTrue(table.contains("| prompt"), table);
    List<String> json = Files.readAllLines(file, StandardCharsets.UTF_8);
    assertEquals(4 * 16, json.size());
    assertTrue(json.get(0).startsWith("{\"step\":1,\"prompt\":"), json.get(0));
  }

  @Test
  void cellsAreOneLineAndCut() {
    assertEquals("a\\nb\\tc", CompletionsTable.cell("a\nb\tc"));
    String cut = CompletionsTable.cell("x".repeat(100));
    assertEquals(CompletionsTable.WIDTH, cut.length());
    assertTrue(cut.endsWith("…"));
  }
}
