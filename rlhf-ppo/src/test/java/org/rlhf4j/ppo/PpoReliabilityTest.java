package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.reward.RewardModel;
import org.rlhf4j.reward.TransformerRewardModel;

/**
 * PPO under faults and misuse: non-finite scores, exploding ratios and losses, checkpoints of a
 * diverged state, use after close, two threads, absurd batch sizes and inconsistent inputs.
 */
class PpoReliabilityTest {
  private static final DigitTokenizer TOK = new DigitTokenizer();

  /** The target-count reward, with {@code bad} as the score of every row {@code i} with {@code i % every == 0}. */
  static final class Poisoned implements RewardModel {
    private final double bad;
    private final int every;

    Poisoned(double bad, int every) {
      this.bad = bad;
      this.every = every;
    }

    @Override
    public INDArray score(TokenBatch sequences) {
      throw new UnsupportedOperationException();
    }

    @Override
    public INDArray score(TokenBatch seq, int responseStart) {
      double[] s = new PpoTrainerTest.CountTarget().score(seq, responseStart).toDoubleVector();
      for (int i = 0; i < s.length; i += every) {
        s[i] = bad;
      }
      return Nd4j.createFromArray(s);
    }

    @Override
    public String toString() {
      return "Poisoned(" + bad + ")";
    }
  }

  private static PpoTrainer trainer(PpoConfig cfg, GptModel sft, RewardModel rm) {
    return PpoTrainer.builder(cfg)
        .policy(sft.withNewValueHead())
        .reference(sft)
        .rewardModel(rm)
        .tokenizer(TOK)
        .prompts(PpoTrainerTest.prompts())
        .build();
  }

  // --- item 18 and 3: non-finite scores

  @Test
  void aNonFiniteScoreFailsTheStepNamingTheRewardModelAndThePrompt() {
    PpoTrainer t = trainer(PpoTrainerTest.config().build(), PpoTrainerTest.sftModel(), new Poisoned(Double.NaN, 4));
    RlhfException e = assertThrows(RlhfException.class, t::step);
    assertTrue(e.getMessage().contains("Poisoned(NaN)"), e.getMessage());
    assertTrue(e.getMessage().matches("(?s).*episode 0 of step 1 NaN \\(prompt \\d+ of the pool: \"\\d+\".*"), e.getMessage());
    assertTrue(e.getMessage().contains("nonFiniteScores(SKIP)"), e.getMessage());
    assertEquals(0, t.stepCount(), "a failed step changes nothing");
    assertEquals(0, t.optimizer().stepCount());
  }

  @Test
  void skippingNonFiniteScoresKeepsScoreScalingBetaAndCheckpointsFinite(@TempDir Path tmp) {
    PpoConfig cfg = PpoTrainerTest.config().scoreScaling(true, true).adaptiveKl(1.0, 100)
        .nonFiniteScores(NonFiniteScores.SKIP).build();
    GptModel sft = PpoTrainerTest.sftModel();
    PpoTrainer t = trainer(cfg, sft, new Poisoned(Double.POSITIVE_INFINITY, 4));
    INDArray before = t.policy().parameters().flat().array().dup();
    List<PpoStats> stats = t.train(3);
    for (PpoStats s : stats) {
      assertEquals(4, s.get("objective/scores_nonfinite"), 0.0, "one score in four is infinite");
      assertEquals(0, s.get("skipped_updates"), 0.0, "the remaining episodes train normally");
      for (Map.Entry<String, Double> e : s.values().entrySet()) {
        assertTrue(Double.isFinite(e.getValue()), e.getKey() + " = " + e.getValue());
      }
    }
    assertEquals(48, t.episodes());
    for (double m : t.scoreMoments().state()) {
      assertTrue(Double.isFinite(m), "running moments stay finite");
    }
    assertTrue(Double.isFinite(t.klController().beta()));
    assertNotEquals(before, t.policy().parameters().flat().array(), "updates were applied");
    PpoCheckpoint.save(tmp.resolve("ckpt"), t, null);
    PpoTrainer resumed = trainer(cfg, PpoTrainerTest.sftModel(), new Poisoned(Double.POSITIVE_INFINITY, 4));
    PpoCheckpoint.restore(tmp.resolve("ckpt"), resumed);
    assertEquals(t.step().get("objective/scores"), resumed.step().get("objective/scores"), 0.0);
  }

  @Test
  void allScoresNonFiniteIsAStepWithoutUpdate() {
    PpoTrainer t = trainer(PpoTrainerTest.config().nonFiniteScores(NonFiniteScores.SKIP).build(), PpoTrainerTest.sftModel(),
        new Poisoned(Double.NaN, 1));
    INDArray before = t.policy().parameters().flat().array().dup();
    PpoStats s = t.step();
    assertEquals(16, s.get("objective/scores_nonfinite"), 0.0);
    assertEquals(1, s.get("warnings"), 0.0);
    assertEquals(before, t.policy().parameters().flat().array());
    assertEquals(0.02, t.klController().beta(), 0.0);
  }

  @Test
  void runningMomentsRefuseNonFiniteValues() {
    RunningMoments m = new RunningMoments();
    m.update(new double[] {1, 2, 3});
    double[] state = m.state();
    assertThrows(IllegalArgumentException.class, () -> m.update(new double[] {1, Double.NaN}));
    assertEquals(List.of(state[0], state[1], state[2]), List.of(m.state()[0], m.state()[1], m.state()[2]));
    assertThrows(IllegalArgumentException.class, () -> m.restore(new double[] {Double.NaN, 1, 1}));
  }

  @Test
  void theTrainerKeepsTheAdaptiveBetaAboveMinKlCoef() {
    // the toy task's KL stays far below a 50-nat target, so the controller lowers beta every step
    PpoTrainer free = PpoTrainerTest.trainer(PpoTrainerTest.config().adaptiveKl(50, 16).build(), PpoTrainerTest.sftModel());
    free.train(2);
    assertTrue(free.klController().beta() < 0.02, "without a floor beta falls: " + free.klController().beta());
    PpoConfig floored = PpoTrainerTest.config().adaptiveKl(50, 16).minKlCoef(0.02).build();
    assertEquals(0.02, floored.toMap().get("min_kl_coef"));
    assertFalse(PpoTrainerTest.config().adaptiveKl(50, 16).build().toMap().containsKey("min_kl_coef"), "absent when unset (earlier checkpoints' keys)");
    PpoTrainer held = PpoTrainerTest.trainer(floored, PpoTrainerTest.sftModel());
    held.train(2);
    assertEquals(0.02, held.klController().beta(), 0.0);
    assertEquals(0.02, held.klController().minBeta(), 0.0);
  }

  @Test
  void minKlCoefNeedsAnAdaptiveControllerAndAtMostTheInitialBeta() {
    IllegalArgumentException fixed = assertThrows(IllegalArgumentException.class, () -> PpoTrainerTest.config().minKlCoef(0.01).build());
    assertTrue(fixed.getMessage().contains("minKlCoef 0.01 needs the adaptive KL controller"), fixed.getMessage());
    IllegalArgumentException above = assertThrows(IllegalArgumentException.class, () -> PpoTrainerTest.config().adaptiveKl(6, 16).minKlCoef(0.05).build());
    assertTrue(above.getMessage().contains("minKlCoef (0.05) must be at most klCoef (0.02)"), above.getMessage());
    IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> PpoTrainerTest.config().adaptiveKl(6, 16).minKlCoef(-1).build());
    assertTrue(negative.getMessage().contains("minKlCoef must be >= 0, got -1.0"), negative.getMessage());
  }

  @Test
  void klControllerIgnoresANonFiniteKl() {
    KlController c = KlController.adaptive(0.1, 6, 10000);
    assertFalse(c.update(Double.NaN, 16));
    assertFalse(c.update(Double.POSITIVE_INFINITY, 16));
    assertEquals(0.1, c.beta(), 0.0);
    assertTrue(c.update(12, 16));
    assertEquals(0.1 * (1 + 0.2 * 16 / 10000.0), c.beta(), 1e-15);
    assertFalse(KlController.fixed(0.3).update(Double.NaN, 1));
  }

  // --- NaN never reaches a checkpoint; a checkpoint is always restorable

  @Test
  void aCheckpointOfANonFiniteStateIsRefusedAndThePreviousOneKept(@TempDir Path tmp) {
    PpoConfig cfg = PpoTrainerTest.config().build();
    PpoTrainer t = trainer(cfg, PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget());
    t.step();
    Path dir = tmp.resolve("ckpt");
    PpoCheckpoint.save(dir, t, null);
    t.policy().parameters().get("h.1.mlp.c_fc.weight").array().putScalar(5, Float.NaN);
    CheckpointException e = assertThrows(CheckpointException.class, () -> PpoCheckpoint.save(dir, t, null));
    assertTrue(e.getMessage().contains("policy parameter h.1.mlp.c_fc.weight[5] is NaN"), e.getMessage());
    PpoTrainer resumed = trainer(cfg, PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget());
    PpoCheckpoint.restore(dir, resumed);
    assertEquals(1, resumed.stepCount());
    assertTrue(Double.isFinite(resumed.policy().parameters().flat().array().sumNumber().doubleValue()));
  }

  @Test
  void aStateFileWithNonNumbersIsAClearErrorNotAClassCastException(@TempDir Path tmp) throws Exception {
    PpoConfig cfg = PpoTrainerTest.config().build();
    PpoTrainer t = trainer(cfg, PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget());
    Path dir = tmp.resolve("ckpt");
    PpoCheckpoint.save(dir, t, null);
    Path state = dir.resolve("trainer_state.json");
    String json = Files.readString(state);
    String moments = json.substring(json.indexOf("\"score_moments\""), json.indexOf("]", json.indexOf("\"score_moments\"")) + 1);
    Files.writeString(state, json.replace(moments, "\"score_moments\" : [ \"NaN\", \"NaN\", 3.0 ]"));
    CheckpointException e = assertThrows(CheckpointException.class, () -> PpoCheckpoint.restore(dir, trainer(cfg, PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget())));
    assertTrue(e.getMessage().contains("score_moments"), e.getMessage());
  }

  @Test
  void aFormat1CheckpointStillRestores(@TempDir Path tmp) throws Exception {
    PpoConfig cfg = PpoTrainerTest.config().build();
    PpoTrainer t = trainer(cfg, PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget());
    t.step();
    Path dir = tmp.resolve("ckpt");
    PpoCheckpoint.save(dir, t, null);
    // rewrite the state as format 1 wrote it: no new settings, target_kl = the old approx-KL threshold (0 = off)
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    @SuppressWarnings("unchecked")
    Map<String, Object> state = json.readValue(dir.resolve("trainer_state.json").toFile(), Map.class);
    state.put("format_version", 1);
    @SuppressWarnings("unchecked")
    Map<String, Object> config = (Map<String, Object>) state.get("config");
    for (String k : List.of("early_stopping", "ratio_threshold", "max_approx_kl", "max_value_loss", "non_finite_scores")) {
      config.remove(k);
    }
    config.put("target_kl", 0.0);
    json.writeValue(dir.resolve("trainer_state.json").toFile(), state);
    PpoTrainer resumed = trainer(cfg, PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget());
    PpoCheckpoint.restore(dir, resumed);
    assertEquals(t.step().get("objective/scores"), resumed.step().get("objective/scores"), 0.0);
    config.put("target_kl", 0.05); // the old meaning cannot be resumed exactly: refused, saying why
    json.writeValue(dir.resolve("trainer_state.json").toFile(), state);
    CheckpointException e = assertThrows(CheckpointException.class,
        () -> PpoCheckpoint.restore(dir, trainer(cfg, PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget())));
    assertTrue(e.getMessage().contains("target_kl"), e.getMessage());
  }

  // --- item 9, 10, 11: settings and bounds

  @Test
  void topKAndTopPAreRefused() {
    IllegalArgumentException k = assertThrows(IllegalArgumentException.class, () -> PpoConfig.builder().topK(5).build());
    assertTrue(k.getMessage().contains("topK must be 0 for PPO, got 5") && k.getMessage().contains("top_k = 0"), k.getMessage());
    IllegalArgumentException p = assertThrows(IllegalArgumentException.class, () -> PpoConfig.builder().topP(0.9).build());
    assertTrue(p.getMessage().contains("topP must be 1.0 for PPO, got 0.9"), p.getMessage());
    IllegalArgumentException r = assertThrows(IllegalArgumentException.class, () -> PpoConfig.builder().ratioThreshold(Double.NaN).build());
    assertTrue(r.getMessage().contains("ratioThreshold"), r.getMessage());
  }

  @Test
  void aMinibatchWhoseRatioExceedsTheThresholdIsNotApplied() {
    // every minibatch's mean ratio is about 1 > 0.5: all are skipped, counted, and the policy is untouched
    PpoTrainer t = trainer(PpoTrainerTest.config().ratioThreshold(0.5).build(), PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget());
    INDArray before = t.policy().parameters().flat().array().dup();
    PpoStats s = t.step();
    assertEquals(8, s.get("updates"), 0.0);
    assertEquals(8, s.get("policy/skipped_ratio"), 0.0);
    assertTrue(s.get("warnings") >= 1);
    assertEquals(before, t.policy().parameters().flat().array());
    assertEquals(0, t.optimizer().stepCount());
    // TRL's default, 10, lets normal minibatches through
    PpoStats normal = trainer(PpoTrainerTest.config().build(), PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget()).step();
    assertEquals(0, normal.get("policy/skipped_ratio"), 0.0);
    assertEquals(0, normal.get("warnings"), 0.0);
  }

  @Test
  void earlyStoppingHasTrlsTargetKlMeaning() {
    PpoConfig never = PpoTrainerTest.config().earlyStopping(1000).build();
    assertEquals(true, never.toMap().get("early_stopping"));
    assertEquals(1000.0, never.toMap().get("target_kl"));
    assertEquals(false, PpoTrainerTest.config().build().toMap().get("early_stopping"));
    PpoStats full = trainer(never, PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget()).step();
    assertEquals(8, full.get("updates"), 0.0);
    assertEquals(0, full.get("early_stopped"), 0.0);
    // a high learning rate moves the policy at once: mean(logp_old - logp) of the second minibatch exceeds 1.5 * 0.01
    PpoStats stopped = trainer(PpoTrainerTest.config().learningRate(0.05).earlyStopping(0.01).build(), PpoTrainerTest.sftModel(),
        new PpoTrainerTest.CountTarget()).step();
    assertEquals(1, stopped.get("early_stopped"), 0.0);
    assertTrue(stopped.get("updates") < 8, "stopped after " + stopped.get("updates") + " minibatches");
  }

  @Test
  void clampedEstimatesAndRatiosStayFinite() {
    // at log p - log q = -30, k3 would be e^30 - 31 = 1e13; OpenRLHF's clamps give 10
    assertEquals(10.0, KlEstimator.K3.perToken(-31, -1), 0.0);
    assertTrue(KlEstimator.K3.isClamped(-31, -1));
    assertEquals(-10.0, KlEstimator.K1.perToken(-31, -1), 0.0);
    assertEquals(10.0, KlEstimator.K2.perToken(-31, -1), 0.0);
    assertFalse(KlEstimator.K1.isClamped(-2, -1));
    // a log-ratio of 30 is clamped to 20: finite loss, no gradient through the clamped token
    double[][] logp = {{0.0, -1.0}};
    double[][] old = {{-30.0, -1.0}};
    double[][] adv = {{-1.0, 1.0}};
    PpoLosses.PolicyLoss pl = PpoLosses.policy(logp, old, adv, new int[] {2}, 0.2);
    assertTrue(Double.isFinite(pl.loss()));
    assertEquals(0.0, pl.gradLogProbs()[0][0], 0.0);
    assertEquals(-0.5, pl.gradLogProbs()[0][1], 1e-15); // -A r / n = -1 * 1 / 2
    assertEquals((Math.exp(20) + 1) / 2, pl.meanRatio(), 1e-6 * Math.exp(20));
    assertEquals(-15.0, pl.policyKl(), 0.0); // mean(old - new) = (-30 + 0) / 2
  }

  // --- item 13: steps far off course are reported and can be bounded

  @Test
  void aHugeLearningRateIsReportedAndCanBeBounded() {
    PpoStats wild = trainer(PpoTrainerTest.config().learningRate(1e3).build(), PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget()).step();
    assertTrue(wild.get("warnings") >= 1, "warnings: " + wild.get("warnings"));
    PpoStats bounded = trainer(PpoTrainerTest.config().learningRate(1e3).maxApproxKl(0.5).build(), PpoTrainerTest.sftModel(),
        new PpoTrainerTest.CountTarget()).step();
    assertTrue(bounded.get("policy/skipped_bounds") >= 1, bounded.values().toString());
    assertTrue(bounded.get("policy/skipped_bounds") < 8, "the first minibatch (approx-KL 0) is applied");
  }

  @Test
  void anEnormousScoreIsReportedAndAValueLossBoundSkipsTheUpdates() {
    PpoStats loud = trainer(PpoTrainerTest.config().build(), PpoTrainerTest.sftModel(), new Poisoned(1e30, 1)).step();
    assertTrue(loud.get("loss/value_avg") > 1e50);
    assertTrue(loud.get("warnings") >= 1);
    PpoTrainer t = trainer(PpoTrainerTest.config().maxValueLoss(100).build(), PpoTrainerTest.sftModel(), new Poisoned(1e30, 1));
    INDArray before = t.policy().parameters().flat().array().dup();
    PpoStats s = t.step();
    assertEquals(8, s.get("policy/skipped_bounds"), 0.0);
    assertEquals(before, t.policy().parameters().flat().array(), "no update with a value loss of " + s.get("loss/value_avg"));
  }

  // --- item 16: use after close

  @Test
  void aClosedTrainerRefusesEveryUse(@TempDir Path tmp) {
    PpoTrainer t = trainer(PpoTrainerTest.config().build(), PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget());
    t.close();
    t.close(); // idempotent
    assertTrue(t.isClosed());
    for (Runnable use : List.<Runnable>of(t::step, () -> t.step(List.of("12")), () -> t.train(1),
        () -> PpoCheckpoint.save(tmp.resolve("c"), t, null), () -> PpoCheckpoint.restore(tmp.resolve("c"), t))) {
      IllegalStateException e = assertThrows(IllegalStateException.class, use::run);
      assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
    assertFalse(Files.exists(tmp.resolve("c")));
  }

  @Test
  void closedModelsAreRefusedByTheBuilderAndTheStep() {
    GptModel sft = PpoTrainerTest.sftModel();
    GptModel policy = sft.withNewValueHead();
    PpoTrainer t = PpoTrainer.builder(PpoTrainerTest.config().build()).policy(policy).reference(sft)
        .rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK).prompts(PpoTrainerTest.prompts()).build();
    sft.close();
    IllegalStateException e = assertThrows(IllegalStateException.class, t::step);
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
    IllegalArgumentException b = assertThrows(IllegalArgumentException.class, () -> PpoTrainer.builder(PpoTrainerTest.config().build())
        .policy(policy).reference(sft).rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK).build());
    assertTrue(b.getMessage().contains("reference has been closed"), b.getMessage());
  }

  // --- smaller: two threads

  @Test
  void aSecondThreadIsToldTheTrainerIsNotThreadSafe() throws Exception {
    CountDownLatch inside = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger calls = new AtomicInteger();
    RewardModel blocking = new RewardModel() {
      @Override
      public INDArray score(TokenBatch sequences) {
        throw new UnsupportedOperationException();
      }

      @Override
      public INDArray score(TokenBatch seq, int responseStart) {
        if (calls.getAndIncrement() == 0) {
          inside.countDown();
          try {
            if (!release.await(60, TimeUnit.SECONDS)) {
              throw new IllegalStateException("test latch timed out");
            }
          } catch (InterruptedException e) {
            throw new IllegalStateException(e);
          }
        }
        return new PpoTrainerTest.CountTarget().score(seq, responseStart);
      }
    };
    PpoTrainer t = trainer(PpoTrainerTest.config().build(), PpoTrainerTest.sftModel(), blocking);
    AtomicReference<Throwable> firstError = new AtomicReference<>();
    AtomicReference<PpoStats> firstResult = new AtomicReference<>();
    Thread first = new Thread(() -> {
      try {
        firstResult.set(t.step());
      } catch (Throwable e) {
        firstError.set(e);
      }
    }, "ppo-first");
    first.start();
    try {
      assertTrue(inside.await(60, TimeUnit.SECONDS), "the first step reached the reward model");
      IllegalStateException e = assertThrows(IllegalStateException.class, t::step);
      assertTrue(e.getMessage().contains("PpoTrainer is not thread-safe") && e.getMessage().contains("ppo-first"), e.getMessage());
      IllegalStateException c = assertThrows(IllegalStateException.class, t::close);
      assertTrue(c.getMessage().contains("not thread-safe"), c.getMessage());
    } finally {
      release.countDown();
      first.join(120_000);
    }
    assertEquals(null, firstError.get());
    assertEquals(1, firstResult.get().step());
    assertEquals(2, t.step().step(), "usable again once the first thread is done");
  }

  // --- items 17 and 19: checks at build()

  @Test
  void anAbsurdRolloutBatchIsRefusedAtBuildWithTheNumbers() {
    PpoConfig cfg = PpoTrainerTest.config().rolloutBatchSize(100_000_000).miniBatchSize(8).build();
    RlhfException e = assertThrows(RlhfException.class, () -> trainer(cfg, PpoTrainerTest.sftModel(), new PpoTrainerTest.CountTarget()));
    assertTrue(e.getMessage().matches("(?s)PPO with rolloutBatchSize 100000000 and sequences of \\d+ tokens \\(policy .*\\) needs about [0-9.]+ TB .*"
        + "more than the physical memory \\([0-9.]+ GB\\); lower rolloutBatchSize or maxNewTokens"), e.getMessage());
  }

  @Test
  void vocabulariesAreCheckedWithTheirSizes() {
    GptModel sft = PpoTrainerTest.sftModel();
    GptModel wide = GptModel.randomInit(sft.config().toBuilder().vocabSize(20).scalarHead(true).build(), 1, sft.options());
    IllegalArgumentException ref = assertThrows(IllegalArgumentException.class, () -> PpoTrainer.builder(PpoTrainerTest.config().build())
        .policy(wide).reference(sft).rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK).build());
    assertTrue(ref.getMessage().contains("the policy has 20 tokens, the reference 13, the tokenizer 13"), ref.getMessage());
    try (TransformerRewardModel rm = TransformerRewardModel.wrap(GptModel.randomInit(wide.config(), 2, sft.options()))) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PpoTrainer.builder(PpoTrainerTest.config().build())
          .policy(sft.withNewValueHead()).reference(sft).rewardModel(rm).tokenizer(TOK).build());
      assertTrue(e.getMessage().contains("has a vocabulary of 20 tokens, the policy 13"), e.getMessage());
    }
  }

  @Test
  void promptsAndMaxNewTokensAreCheckedAtBuildNamingThePoolIndex() {
    GptModel sft = PpoTrainerTest.sftModel(); // context 24
    List<String> pool = new ArrayList<>(PpoTrainerTest.prompts());
    pool.add("1234567890123456"); // 16 digits + BOS = 17 tokens; with 8 new tokens: 25 > 24
    RlhfException e = assertThrows(RlhfException.class, () -> PpoTrainer.builder(PpoTrainerTest.config().build())
        .policy(sft.withNewValueHead()).reference(sft).rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK).prompts(pool).build());
    assertTrue(e.getMessage().startsWith("prompt 32 of the pool (\"1234567890123456\") has 17 tokens; with maxNewTokens 8 it needs 25"
        + " positions, more than the context length 24 (at most 16 prompt tokens fit)"), e.getMessage());
    IllegalArgumentException n = assertThrows(IllegalArgumentException.class, () -> PpoTrainer.builder(PpoTrainerTest.config().maxNewTokens(500).build())
        .policy(sft.withNewValueHead()).reference(sft).rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK).build());
    assertTrue(n.getMessage().contains("maxNewTokens 500 leaves no room for a prompt in the policy's context length 24"), n.getMessage());
    PpoTrainer t = trainer(PpoTrainerTest.config().build(), sft, new PpoTrainerTest.CountTarget());
    RlhfException s = assertThrows(RlhfException.class, () -> t.step(List.of("1", "1234567890123456")));
    assertTrue(s.getMessage().startsWith("prompt 1 of the batch (\"1234567890123456\") has 17 tokens"), s.getMessage());
  }

  // --- item 12: value heads start at zero

  @Test
  void valueHeadsStartAtZeroAndRewardHeadsRandom() {
    GptModel sft = PpoTrainerTest.sftModel();
    GptModel v = sft.withNewValueHead();
    assertEquals(0.0, v.parameters().get("scalar_head.weight").array().amaxNumber().doubleValue(), 0.0);
    assertEquals(0.0, v.parameters().get("scalar_head.bias").array().amaxNumber().doubleValue(), 0.0);
    TokenBatch batch = TokenBatch.leftPadded(List.of(new int[] {1, 2, 3}), DigitTokenizer.PAD);
    assertEquals(0.0, v.forward(batch).values().amaxNumber().doubleValue(), 0.0);
    GptConfig c = sft.config();
    double std = sft.withNewScalarHead(3).parameters().get("scalar_head.weight").array().stdNumber().doubleValue();
    assertTrue(std > 0.5 / Math.sqrt(c.dModel() + 1.0), "reward heads keep N(0, 1/sqrt(d+1)): std " + std);
  }
}
