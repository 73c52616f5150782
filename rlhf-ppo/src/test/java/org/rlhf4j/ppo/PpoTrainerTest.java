package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.reward.RewardModel;

/**
 * PPO on a task a tiny model can learn: the reward is the number of 7s in the response (a rule
 * reward model). The policy starts near uniform over 13 tokens.
 */
class PpoTrainerTest {
  private static final DigitTokenizer TOK = new DigitTokenizer();
  private static final int TARGET = 7;

  /** +1 per occurrence of the target digit in the response. */
  static final class CountTarget implements RewardModel {
    @Override
    public INDArray score(TokenBatch sequences) {
      throw new UnsupportedOperationException("needs the response start");
    }

    @Override
    public INDArray score(TokenBatch seq, int responseStart) {
      double[] s = new double[seq.batchSize()];
      for (int i = 0; i < s.length; i++) {
        for (int t = responseStart; t < seq.length(); t++) {
          s[i] += seq.mask(i, t) == 1 && seq.id(i, t) == TARGET ? 1 : 0;
        }
      }
      return Nd4j.createFromArray(s);
    }
  }

  static GptModel sftModel() {
    GptConfig c = GptConfig.builder().vocabSize(TOK.vocabSize()).dModel(32).heads(2).layers(2).contextLength(24).build();
    return GptModel.randomInit(c, 5, new ModelOptions(DataType.FLOAT, 2));
  }

  static List<String> prompts() {
    Random r = new Random(1);
    List<String> p = new ArrayList<>();
    for (int i = 0; i < 32; i++) {
      StringBuilder sb = new StringBuilder();
      for (int j = 0; j < 1 + r.nextInt(5); j++) {
        sb.append(r.nextInt(10));
      }
      p.add(sb.toString());
    }
    return p;
  }

  static PpoConfig.Builder config() {
    return PpoConfig.builder()
        .learningRate(3e-3)
        .rolloutBatchSize(16)
        .miniBatchSize(8)
        .ppoEpochs(4)
        .maxNewTokens(8)
        .klCoef(0.02)
        .vfCoef(0.1)
        .seed(11);
  }

  static PpoTrainer trainer(PpoConfig cfg, GptModel sft) {
    return PpoTrainer.builder(cfg)
        .policy(sft.withNewValueHead())
        .reference(sft)
        .rewardModel(new CountTarget())
        .tokenizer(TOK)
        .prompts(prompts())
        .build();
  }

  private static double mean(List<PpoStats> s, int from, int to, String name) {
    return s.subList(from, to).stream().mapToDouble(x -> x.get(name)).average().orElseThrow();
  }

  /**
   * With beta = 0.5 the KL-regularised optimum is known: pi*(x) = pi_ref(x) e^{r(x)/beta} / Z gives
   * each of the 8 tokens p(7) = e^2 / (e^2 + 12) = 0.38 against a near-uniform reference, i.e. a
   * mean score of about 3.0 and a KL of about 8 * 0.36 = 2.9 nats. PPO should get close to that:
   * the score rises from about 0.6 and the KL stays near the optimum's, far below the 20 nats of
   * the collapsed all-7s policy.
   */
  @Test
  void raisesTheScoreWithBoundedKlAndNeverTouchesTheReference() {
    GptModel sft = sftModel();
    INDArray refBefore = sft.parameters().flat().array().dup();
    PpoTrainer t = trainer(config().klCoef(0.5).build(), sft);
    List<PpoStats> stats = t.train(30);
    double before = mean(stats, 0, 3, "objective/scores");
    double after = mean(stats, 25, 30, "objective/scores");
    double kl = mean(stats, 25, 30, "objective/kl");
    System.out.printf("PPO (beta 0.5): mean score %.2f -> %.2f (optimum ~3.0), KL %.2f nats (optimum ~2.9)%n", before, after, kl);
    assertTrue(after > before + 1.5, "mean score should rise substantially: " + before + " -> " + after);
    assertTrue(kl < 6, "KL to the reference should stay bounded near the regularised optimum (2.9): " + kl);
    assertEquals(refBefore, sft.parameters().flat().array(), "the reference model must never be updated");
    for (String name : List.of("objective/kl", "objective/entropy", "objective/non_score_reward", "objective/rlhf_reward",
        "policy/approxkl_avg", "policy/clipfrac_avg", "policy/entropy_avg", "loss/policy_avg", "loss/value_avg",
        "val/clipfrac_avg", "val/ratio", "val/num_eos_tokens", "lr", "episode", "time/rollout", "time/scoring",
        "time/training", "time/tokens_per_second")) {
      assertTrue(Double.isFinite(stats.get(29).get(name)), name);
    }
    assertEquals(30 * 16, stats.get(29).get("episode"), 0);
  }

  @Test
  void aLargeKlCoefficientKeepsThePolicyCloseToTheReference() {
    List<PpoStats> stats = trainer(config().klCoef(2.0).build(), sftModel()).train(15);
    double kl = mean(stats, 12, 15, "objective/kl");
    List<PpoStats> free = trainer(config().klCoef(0.0).build(), sftModel()).train(15);
    double klFree = mean(free, 12, 15, "objective/kl");
    System.out.printf("PPO KL after 15 steps: beta=2 -> %.3f, beta=0 -> %.3f%n", kl, klFree);
    assertTrue(kl < 0.5, "with beta = 2 the policy should stay close: KL " + kl);
    assertTrue(klFree > 3 * kl, "without the penalty the policy drifts further: " + klFree + " vs " + kl);
  }

  @Test
  void resumingFromACheckpointRepeatsTheUninterruptedRun(@TempDir Path tmp) {
    PpoConfig cfg = config().adaptiveKl(1.0, 100).scoreScaling(true, true).build();
    List<PpoStats> straight = trainer(cfg, sftModel()).train(4);
    PpoTrainer first = trainer(cfg, sftModel());
    first.train(2);
    PpoCheckpoint.save(tmp.resolve("ppo"), first, null);
    PpoTrainer resumed = trainer(cfg, sftModel());
    PpoCheckpoint.restore(tmp.resolve("ppo"), resumed);
    List<PpoStats> rest = resumed.train(2);
    for (int i = 0; i < 2; i++) {
      PpoStats a = straight.get(2 + i);
      PpoStats b = rest.get(i);
      assertEquals(a.step(), b.step());
      for (Map.Entry<String, Double> e : a.values().entrySet()) {
        if (!e.getKey().startsWith("time/")) {
          assertEquals(e.getValue(), b.get(e.getKey()), 0.0, "step " + a.step() + " " + e.getKey());
        }
      }
    }
  }

  @Test
  void periodicCheckpointsResumeTheRun(@TempDir Path tmp) {
    GptModel sft = sftModel();
    PpoTrainer t = PpoTrainer.builder(config().build()).policy(sft.withNewValueHead()).reference(sft).rewardModel(new CountTarget())
        .tokenizer(TOK).prompts(prompts()).checkpoints(tmp.resolve("latest"), 2).build();
    List<PpoStats> run = t.train(5);
    PpoTrainer resumed = trainer(config().build(), sftModel());
    PpoCheckpoint.restore(tmp.resolve("latest"), resumed);
    assertEquals(4, resumed.stepCount(), "the latest checkpoint is from step 4");
    assertEquals(run.get(4).get("objective/scores"), resumed.step().get("objective/scores"), 0.0);
  }

  @Test
  void ptxAddsThePretrainingLossAndSeparateCriticWorks() {
    GptModel sft = sftModel();
    SftData ptx = SftData.fromCorpus(TOK.encode("0123456789".repeat(20)), 12);
    double before = SftTrainer.evaluate(sft, ptx, 8).loss();
    PpoTrainer t = PpoTrainer.builder(config().ptx(5.0, 4).build())
        .policy(sft.copy(sft.options()))
        .critic(sft.withNewScalarHead(9))
        .reference(sft)
        .rewardModel(new CountTarget())
        .tokenizer(TOK)
        .prompts(prompts())
        .ptxData(ptx)
        .build();
    List<PpoStats> s = t.train(6);
    assertTrue(Double.isFinite(s.get(5).get("loss/ptx_avg")));
    double after = SftTrainer.evaluate(t.policy(), ptx, 8).loss();
    assertTrue(after < before - 0.5, "the ptx term should fit the pre-training data: " + before + " -> " + after);
  }

  @Test
  void fullKlEstimatorIsNonNegativeAndConfigErrorsNameTheField() {
    List<PpoStats> s = trainer(config().klEstimator(KlEstimator.FULL).build(), sftModel()).train(3);
    for (PpoStats x : s) {
      assertTrue(x.kl() >= 0, "exact KL is non-negative: " + x.kl());
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> config().miniBatchSize(100).build());
    assertTrue(e.getMessage().contains("miniBatchSize"), e.getMessage());
    GptModel sft = sftModel();
    IllegalArgumentException noHead = assertThrows(IllegalArgumentException.class,
        () -> PpoTrainer.builder(config().build()).policy(sft.copy(sft.options())).reference(sft).rewardModel(new CountTarget()).tokenizer(TOK).build());
    assertTrue(noHead.getMessage().contains("value head"), noHead.getMessage());
  }
}
