package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptModel;

/**
 * GRPO and RLOO on PPO's toy task ({@link PpoTrainerTest}): the reward counts the 7s among 8 sampled
 * tokens of a near-uniform 13-token policy. With the KL to the reference weighted by 0.5 per
 * sequence the regularised optimum is p(7) = 0.38 per token: mean score about 3.0 at a KL of about
 * 2.9 nats (PPO reaches about 2.8 / 2.7 in 30 steps).
 */
class GrpoTrainerTest {
  private static final DigitTokenizer TOK = new DigitTokenizer();

  static GrpoTrainer trainer(GrpoConfig cfg, GptModel sft) {
    return GrpoTrainer.builder(cfg)
        .policy(sft.copy(new ModelOptions(DataType.FLOAT, 2)))
        .reference(sft)
        .rewardModel(new PpoTrainerTest.CountTarget())
        .tokenizer(TOK)
        .prompts(PpoTrainerTest.prompts())
        .build();
  }

  private static double mean(List<GrpoStats> s, int from, int to, String name) {
    return s.subList(from, to).stream().mapToDouble(x -> x.get(name)).average().orElseThrow();
  }

  /**
   * RLOO with the (k1) KL in the reward and beta = 0.5 is an unbiased policy gradient of E[score] -
   * 0.5 KL: its fixed point is the optimum above.
   */
  @Test
  void rlooApproachesTheKlRegularisedOptimum() {
    GptModel sft = PpoTrainerTest.sftModel();
    INDArray refBefore = sft.parameters().flat().array().dup();
    GrpoConfig cfg = GrpoConfig.rlooBuilder().learningRate(3e-3).beta(0.5).numGenerations(4).batchSize(32).miniBatchSize(16)
        .numIterations(2).maxNewTokens(8).seed(11).build();
    try (GrpoTrainer t = trainer(cfg, sft)) {
      List<GrpoStats> stats = t.train(30);
      double before = mean(stats, 0, 3, "objective/scores");
      double after = mean(stats, 25, 30, "objective/scores");
      double kl = mean(stats, 25, 30, "objective/kl");
      String msg = String.format("RLOO (beta 0.5, KL in reward): score %.2f -> %.2f (optimum ~3.0), KL %.2f nats (optimum ~2.9)",
          before, after, kl);
      System.out.println(msg);
      assertTrue(after > before + 1.5 && after > 2.2 && after < 4.5, msg);
      assertTrue(kl > 1.0 && kl < 5.0, msg);
      assertEquals(refBefore, sft.parameters().flat().array(), "the reference must never be updated");
      for (String name : List.of("objective/kl", "objective/scores", "objective/rlhf_reward", "reward", "reward_std",
          "loss/policy_avg", "policy/clipfrac_avg", "policy/approxkl_avg", "val/ratio", "completion_length", "lr",
          "episode", "time/rollout", "time/training")) {
        assertTrue(Double.isFinite(stats.get(29).get(name)), name);
      }
      assertEquals(30 * 32, stats.get(29).get("episode"), 0);
      GrpoStats last = stats.get(29); // the KL is in the reward the advantages see
      assertEquals(last.get("objective/scores") - 0.5 * last.get("objective/kl"), last.get("reward"), 1e-9);
      assertEquals("rloo", t.phase());
    }
  }

  /**
   * GRPO with beta times the k3 estimate in the loss. Its surrogate divides by the group's score
   * std (about 1.4 at the optimum) and its loss is a mean over tokens, so the per-sequence KL weight
   * is about beta * std: beta = 0.35 aims at the same optimum (k3's gradient also differs from the
   * exact KL's away from the reference, so it only approaches it).
   */
  @Test
  void grpoApproachesTheKlRegularisedOptimum() {
    GptModel sft = PpoTrainerTest.sftModel();
    GrpoConfig cfg = GrpoConfig.builder().learningRate(3e-3).beta(0.35).numGenerations(4).batchSize(32).miniBatchSize(16)
        .numIterations(2).maxNewTokens(8).seed(11).build();
    try (GrpoTrainer t = trainer(cfg, sft)) {
      List<GrpoStats> stats = t.train(30);
      double before = mean(stats, 0, 3, "objective/scores");
      double after = mean(stats, 25, 30, "objective/scores");
      double kl = mean(stats, 25, 30, "objective/kl");
      String msg = String.format("GRPO (beta 0.35, k3 in loss): score %.2f -> %.2f (optimum ~3.0), KL %.2f nats (optimum ~2.9)",
          before, after, kl);
      System.out.println(msg);
      assertTrue(after > before + 1.5 && after > 2.2 && after < 4.5, msg);
      assertTrue(kl > 1.0 && kl < 5.0, msg);
      assertTrue(Double.isFinite(stats.get(29).get("kl")) && stats.get(29).get("kl") > 0, "GRPO's per-token k3");
      assertEquals("grpo", t.phase());
      GrpoStats last = stats.get(29); // the KL is in the loss: the advantages see the bare score
      assertEquals(last.get("objective/scores"), last.get("reward"), 1e-9);
    }
  }

  @Test
  void sameSeedGivesTheSameNumbers() {
    GrpoConfig cfg = GrpoConfig.builder().learningRate(3e-3).numGenerations(4).batchSize(8).maxNewTokens(4).seed(5).build();
    List<GrpoStats> a;
    List<GrpoStats> b;
    try (GrpoTrainer t = trainer(cfg, PpoTrainerTest.sftModel())) {
      a = t.train(2);
    }
    try (GrpoTrainer t = trainer(cfg, PpoTrainerTest.sftModel())) {
      b = t.train(2);
    }
    for (String name : List.of("objective/scores", "objective/kl", "loss/policy_avg", "kl")) {
      assertEquals(a.get(1).get(name), b.get(1).get(name), 0, name);
    }
  }

  @Test
  void useAfterCloseAndBadPartsAreErrors() {
    GptModel sft = PpoTrainerTest.sftModel();
    GrpoConfig cfg = GrpoConfig.builder().numGenerations(2).batchSize(2).maxNewTokens(2).build();
    GrpoTrainer t = trainer(cfg, sft);
    t.close();
    t.close(); // idempotent
    IllegalStateException e = assertThrows(IllegalStateException.class, t::step);
    assertTrue(e.getMessage().contains("after close()"), e.getMessage());
    IllegalArgumentException same = assertThrows(IllegalArgumentException.class,
        () -> GrpoTrainer.builder(cfg).policy(sft).reference(sft).rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK)
            .prompts(List.of("1")).build());
    assertTrue(same.getMessage().contains("same model"), same.getMessage());
    IllegalStateException missing = assertThrows(IllegalStateException.class,
        () -> GrpoTrainer.builder(cfg).policy(sft).build());
    assertTrue(missing.getMessage().contains("reference is not set"), missing.getMessage());
  }

  @Test
  void aNonFiniteScoreIsAnErrorNamingTheSequence() {
    GptModel sft = PpoTrainerTest.sftModel();
    GrpoConfig cfg = GrpoConfig.builder().numGenerations(2).batchSize(4).maxNewTokens(2).build();
    org.rlhf4j.reward.RewardModel nan = new org.rlhf4j.reward.RewardModel() {
      @Override
      public INDArray score(org.rlhf4j.core.model.TokenBatch seq) {
        return org.nd4j.linalg.factory.Nd4j.createFromArray(1.0, 2.0, Double.NaN, 0.0);
      }

      @Override
      public INDArray score(org.rlhf4j.core.model.TokenBatch seq, int responseStart) {
        return score(seq);
      }
    };
    try (GrpoTrainer t = GrpoTrainer.builder(cfg).policy(sft.copy(sft.options())).reference(sft).rewardModel(nan)
        .tokenizer(TOK).prompts(PpoTrainerTest.prompts()).build()) {
      INDArray before = t.policy().parameters().flat().array().dup();
      org.rlhf4j.core.RlhfException e = assertThrows(org.rlhf4j.core.RlhfException.class, t::step);
      assertTrue(e.getMessage().contains("scored sequence 2 of the rollout NaN"), e.getMessage());
      assertEquals(before, t.policy().parameters().flat().array(), "no update from a NaN score");
      assertEquals(0, t.stepCount());
    }
  }

  /** GRPO and RLOO checkpoint like PPO: a run resumed from step 2 repeats the uninterrupted one exactly. */
  @Test
  void resumingFromACheckpointRepeatsTheUninterruptedRun(@TempDir Path tmp) {
    GrpoConfig cfg = GrpoConfig.rlooBuilder().learningRate(3e-3).numGenerations(4).batchSize(8).maxNewTokens(4).seed(5).build();
    GptModel sft = PpoTrainerTest.sftModel();
    List<GrpoStats> straight;
    GptModel straightPolicy = sft.copy(new ModelOptions(DataType.FLOAT, 2));
    try (GrpoTrainer t = GrpoTrainer.builder(cfg).policy(straightPolicy).reference(sft).rewardModel(new PpoTrainerTest.CountTarget())
        .tokenizer(TOK).prompts(PpoTrainerTest.prompts()).build()) {
      straight = t.train(4);
    }
    try (GrpoTrainer t = GrpoTrainer.builder(cfg).policy(sft.copy(new ModelOptions(DataType.FLOAT, 2))).reference(sft)
        .rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK).prompts(PpoTrainerTest.prompts())
        .checkpoints(tmp.resolve("rloo"), 2).build()) {
      t.train(3); // the checkpoint holds step 2
    }
    GptModel other = sft.copy(new ModelOptions(DataType.FLOAT, 2)); // other weights: the checkpoint's replace them
    other.parameters().flat().array().addi(0.1);
    try (GrpoTrainer t = GrpoTrainer.builder(cfg).policy(other).reference(sft).rewardModel(new PpoTrainerTest.CountTarget())
        .tokenizer(TOK).prompts(PpoTrainerTest.prompts()).resumeFrom(tmp.resolve("rloo")).build()) {
      assertEquals(2, t.stepCount());
      List<GrpoStats> rest = t.train(2);
      for (int i = 0; i < 2; i++) {
        assertEquals(straight.get(2 + i).step(), rest.get(i).step());
        for (String k : straight.get(2 + i).values().keySet()) {
          if (!k.startsWith("time/")) {
            assertEquals(straight.get(2 + i).get(k), rest.get(i).get(k), 0.0, "step " + (3 + i) + " " + k);
          }
        }
      }
      assertEquals(straightPolicy.parameters().flat().array(), other.parameters().flat().array());
    }
    GrpoConfig otherLr = GrpoConfig.rlooBuilder().learningRate(1e-4).numGenerations(4).batchSize(8).maxNewTokens(4).seed(5).build();
    CheckpointException e = assertThrows(CheckpointException.class, () -> GrpoTrainer.builder(otherLr)
        .policy(sft.copy(new ModelOptions(DataType.FLOAT, 2))).reference(sft).rewardModel(new PpoTrainerTest.CountTarget())
        .tokenizer(TOK).prompts(PpoTrainerTest.prompts()).resumeFrom(tmp.resolve("rloo")).build());
    assertTrue(e.getMessage().contains("learning_rate: checkpoint 0.003, now 1.0E-4"), e.getMessage());
  }
}
