package org.rlhf4j.ppo.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.ppo.DigitTokenizer;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.reward.RewardConfig;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.dpo.DpoConfig;
import org.rlhf4j.reward.dpo.DpoTrainer;
import org.rlhf4j.reward.feedback.ComparisonStore;
import org.rlhf4j.reward.feedback.LabelRequest;
import org.rlhf4j.reward.feedback.LabelResult;
import org.rlhf4j.reward.feedback.Labeller;

/**
 * The feedback loop with a programmatic labeller that prefers responses containing more of the
 * "word" 7 (a digit tokenizer keeps the model tiny).
 */
class RlhfLoopTest {
  private static final DigitTokenizer TOK = new DigitTokenizer();
  private static final Labeller PREFERS_SEVENS = Labeller.byScore("sevens", RlhfLoopTest::sevens);

  static double sevens(String s) {
    return s.chars().filter(c -> c == '7').count();
  }

  static GptModel sft() {
    GptConfig c = GptConfig.builder().vocabSize(TOK.vocabSize()).dModel(32).heads(2).layers(2).contextLength(24).build();
    return GptModel.randomInit(c, 5, new ModelOptions(DataType.FLOAT, 2));
  }

  static List<String> prompts(int n, long seed) {
    Random r = new Random(seed);
    List<String> p = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      StringBuilder sb = new StringBuilder();
      for (int j = 0; j < 1 + r.nextInt(4); j++) {
        sb.append(r.nextInt(10));
      }
      p.add(sb.toString());
    }
    return p;
  }

  static RlhfLoopConfig config() {
    return RlhfLoopConfig.builder()
        .rounds(3)
        .k(4)
        .promptsPerRound(24)
        .ppoStepsPerRound(8)
        .reward(RewardConfig.builder().learningRate(2e-3).epochs(2).promptsPerBatch(8).seed(3).build())
        .ppo(PpoConfig.builder().learningRate(3e-3).rolloutBatchSize(16).miniBatchSize(8).maxNewTokens(8).klCoef(0.2).seed(4).build())
        .seed(6)
        .build();
  }

  /** Held-out rankings: SFT samples on other prompts, ranked by the same program. */
  static List<Ranking> heldOut(GptModel sft) {
    List<Ranking> out = new ArrayList<>();
    List<String> ps = prompts(30, 99);
    List<int[]> enc = new ArrayList<>();
    for (String p : ps) {
      int[] ids = TOK.encode(p);
      int[] b = new int[ids.length + 1];
      b[0] = DigitTokenizer.BOS;
      System.arraycopy(ids, 0, b, 1, ids.length);
      for (int j = 0; j < 4; j++) {
        enc.add(b);
      }
    }
    Generation g = Generator.generate(sft, enc, SamplingConfig.builder().maxNewTokens(8).minNewTokens(1).stopTokens(DigitTokenizer.EOS).build(), 7, DigitTokenizer.PAD);
    for (int i = 0; i < ps.size(); i++) {
      List<String> rs = new ArrayList<>();
      for (int j = 0; j < 4; j++) {
        rs.add(TOK.decode(g.response(4 * i + j)));
      }
      LabelRequest req = LabelRequest.of("h" + i, ps.get(i), rs, -1, "sft");
      LabelResult res = PREFERS_SEVENS.label(req);
      if (!res.isSkip() && rs.stream().noneMatch(String::isBlank)) {
        out.add(Ranking.of("held-out", i + 1, ps.get(i), rs, res.order()));
      }
    }
    return out;
  }

  private static RlhfLoop loop(GptModel sft, ComparisonStore store, Path ckpt, List<Ranking> heldOut) {
    return RlhfLoop.builder(config())
        .reference(sft)
        .policy(sft.withNewScalarHead(1))
        .rewardModel(TransformerRewardModel.fromPolicy(sft, 2))
        .tokenizer(TOK)
        .prompts(prompts(64, 1))
        .labeller(PREFERS_SEVENS)
        .store(store)
        .checkpointDir(ckpt)
        .heldOut(heldOut)
        .build();
  }

  private static double sevensPerResponse(CausalLm policy) {
    List<int[]> enc = new ArrayList<>();
    for (String p : prompts(32, 77)) {
      int[] ids = TOK.encode(p);
      int[] b = new int[ids.length + 1];
      b[0] = DigitTokenizer.BOS;
      System.arraycopy(ids, 0, b, 1, ids.length);
      enc.add(b);
    }
    Generation g = Generator.generate(policy, enc, SamplingConfig.builder().maxNewTokens(8).stopTokens(DigitTokenizer.EOS).build(), 8, DigitTokenizer.PAD);
    return g.responses().stream().mapToDouble(r -> sevens(TOK.decode(r))).average().orElseThrow();
  }

  @Test
  void threeRoundsImproveTheRewardModelAndThePolicy(@TempDir Path tmp) {
    GptModel sft = sft();
    List<Ranking> heldOut = heldOut(sft);
    try (ComparisonStore store = ComparisonStore.open(tmp.resolve("comparisons.jsonl"));
        RlhfLoop loop = loop(sft, store, tmp.resolve("ckpt"), heldOut)) {
      double before = sevensPerResponse(loop.policy());
      List<RoundReport> reports = loop.run();
      double after = sevensPerResponse(loop.policy());
      double acc1 = reports.get(0).heldOut().get().accuracy();
      double acc3 = reports.get(2).heldOut().get().accuracy();
      System.out.printf("RLHF loop: held-out RM accuracy %.3f -> %.3f, 7s per response %.2f -> %.2f, KL %.2f, %d comparisons%n",
          acc1, acc3, before, after, reports.get(2).lastKl(), store.size());
      assertTrue(acc3 > acc1, "reward-model accuracy on held-out rankings should rise: " + acc1 + " -> " + acc3);
      assertTrue(acc3 > 0.7, "after 3 rounds the reward model should rank well: " + acc3);
      assertTrue(after > before + 0.5, "PPO samples should contain the word more often: " + before + " -> " + after);
      assertTrue(reports.get(2).lastKl() < 10, "KL should stay bounded: " + reports.get(2).lastKl());
      assertEquals(store.size(), reports.stream().mapToInt(RoundReport::ranked).sum());
    }
  }

  @Test
  void stoppingAndRestartingContinuesFromTheStoreAndCheckpoints(@TempDir Path tmp) {
    RlhfLoopConfig cfg = config();
    List<RoundReport> straight;
    GptModel sftA = sft();
    try (ComparisonStore store = ComparisonStore.open(tmp.resolve("a.jsonl")); RlhfLoop loop = loop(sftA, store, tmp.resolve("ckptA"), List.of())) {
      straight = loop.run();
    }
    GptModel sftB = sft();
    try (ComparisonStore store = ComparisonStore.open(tmp.resolve("b.jsonl")); RlhfLoop loop = loop(sftB, store, tmp.resolve("ckptB"), List.of())) {
      loop.runRound();
      loop.runRound();
    }
    List<RoundReport> resumed;
    CausalLm finalPolicy;
    try (ComparisonStore store = ComparisonStore.open(tmp.resolve("b.jsonl")); RlhfLoop loop = loop(sft(), store, tmp.resolve("ckptB"), List.of())) {
      assertEquals(2, loop.completedRounds());
      resumed = loop.run();
      assertEquals(1, resumed.size());
      assertEquals(straight.get(2).totalComparisons(), store.size());
      finalPolicy = loop.policy();
    }
    assertEquals(straight.get(2).lastScore(), resumed.get(0).lastScore(), 0.0);
    assertEquals(straight.get(2).lastKl(), resumed.get(0).lastKl(), 0.0);
    assertEquals(straight.get(2).reward().get().finalLoss(), resumed.get(0).reward().get().finalLoss(), 0.0);
    assertTrue(cfg.rounds() == 3 && finalPolicy != null);
  }
  /**
   * DPO in place of reward model + PPO: the same loop, people's (here a program's) rankings become
   * preference pairs and DPO trains the policy on all of them each round; a restarted loop resumes
   * from the saved policy and repeats the uninterrupted run.
   */
  @Test
  void dpoReplacesRewardModelAndPpoInTheLoop(@TempDir Path tmp) {
    RlhfLoopConfig cfg = RlhfLoopConfig.builder().rounds(3).k(4).promptsPerRound(24)
        .ppo(PpoConfig.builder().maxNewTokens(8).build()) // the labelling samples' length
        .seed(6).build();
    DpoConfig dpo = DpoConfig.builder().beta(0.1).learningRate(2e-3).epochs(2).promptsPerBatch(8).seed(3).build();
    GptModel sft = sft();
    List<Ranking> heldOut = heldOut(sft);
    List<RoundReport> reports;
    double before;
    double after;
    try (ComparisonStore store = ComparisonStore.open(tmp.resolve("dpo.jsonl"));
        RlhfLoop loop = dpoLoop(cfg, dpo, sft, store, tmp.resolve("ckpt"), heldOut)) {
      before = sevensPerResponse(loop.policy());
      reports = loop.run();
      after = sevensPerResponse(loop.policy());
    }
    double acc0 = reports.get(0).dpo().orElseThrow().initialEval().orElseThrow().accuracy();
    double acc3 = reports.get(2).dpo().orElseThrow().finalEval().orElseThrow().accuracy();
    String msg = String.format("RLHF loop with DPO: held-out implicit-reward accuracy %.3f -> %.3f, 7s per response %.2f -> %.2f",
        acc0, acc3, before, after);
    System.out.println(msg);
    assertTrue(reports.stream().allMatch(r -> r.reward().isEmpty() && r.ppo().isEmpty()), "no reward model, no PPO");
    assertTrue(acc3 > acc0 + 0.1 && acc3 > 0.7, msg);
    assertTrue(after > before + 0.5, msg);

    GptModel sftB = sft();
    try (ComparisonStore store = ComparisonStore.open(tmp.resolve("b.jsonl"));
        RlhfLoop loop = dpoLoop(cfg, dpo, sftB, store, tmp.resolve("ckptB"), heldOut)) {
      loop.runRound();
      loop.runRound();
    }
    try (ComparisonStore store = ComparisonStore.open(tmp.resolve("b.jsonl"));
        RlhfLoop loop = dpoLoop(cfg, dpo, sft(), store, tmp.resolve("ckptB"), heldOut)) {
      assertEquals(2, loop.completedRounds());
      RoundReport last = loop.run().get(0);
      assertEquals(reports.get(2).dpo().orElseThrow().finalLoss(), last.dpo().orElseThrow().finalLoss(), 0.0,
          "the resumed third round repeats the uninterrupted one");
    }
  }

  private static RlhfLoop dpoLoop(RlhfLoopConfig cfg, DpoConfig dpo, GptModel sft, ComparisonStore store, Path ckpt, List<Ranking> heldOut) {
    DpoPolicyOptimizer optimizer = DpoPolicyOptimizer.of(DpoTrainer.builder(dpo).policy(sft.copy(sft.options())).reference(sft).tokenizer(TOK).build());
    return RlhfLoop.builder(cfg)
        .optimizer(optimizer)
        .tokenizer(TOK)
        .prompts(prompts(64, 1))
        .labeller(PREFERS_SEVENS)
        .store(store)
        .checkpointDir(ckpt)
        .heldOut(heldOut)
        .build();
  }
}
