package org.rlhf4j.reward.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.testing.GradientCheck;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.SequenceLogProbs;
import org.rlhf4j.core.train.TrainingArguments;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.data.Ranking;

/** DpoTrainer end to end: gradients through the model, K-way rankings, the frozen reference, metrics, determinism, checkpoints. */
class DpoTrainerTest {
  private static final LetterTokenizer TOK = new LetterTokenizer();

  private static GptConfig tiny() {
    return GptConfig.builder().vocabSize(11).dModel(8).heads(2).layers(1).contextLength(10).build();
  }

  private static GptModel perturbed(long seed, ModelOptions options) {
    GptModel m = GptModel.randomInit(tiny(), seed, options);
    INDArray p = m.parameters().flat().array();
    Nd4j.getRandom().setSeed(seed);
    p.addi(Nd4j.randn(p.dataType(), p.shape()).muli(0.3));
    return m;
  }

  private static List<Ranking> rankings() {
    return List.of(
        Ranking.pairwise("t", 1, "ab", "cde", "f"),
        Ranking.of("t", 2, "", List.of("aa", "hhg", "bcd"), List.of(2, 0, 1)),
        Ranking.pairwise("t", 3, "h", "gg", "abcdef"));
  }

  @Test
  void endToEndGradientMatchesFiniteDifferencesForEveryLoss() {
    ModelOptions dbl = new ModelOptions(DataType.DOUBLE, 1);
    // every parameter for cDPO (sigmoid path, summed log-probs); the embeddings and one block weight for
    // the plain sigmoid and for IPO (mean log-probs) — the loss variants themselves are checked in DpoLossTest
    List<String> some = List.of("wte", "h.0.mlp.c_fc.weight");
    record Case(DpoConfig config, boolean allParameters) {}
    Case[] cases = {
      new Case(DpoConfig.builder().beta(0.3).labelSmoothing(0.2).build(), true),
      new Case(DpoConfig.builder().beta(0.5).build(), false),
      new Case(DpoConfig.builder().beta(0.4).lossType(DpoLoss.Type.IPO).build(), false)
    };
    for (Case c : cases) {
      GptModel policy = perturbed(1, dbl);
      GptModel reference = perturbed(2, dbl);
      DpoTrainer t = DpoTrainer.builder(c.config()).policy(policy).reference(reference).tokenizer(TOK).build();
      List<DpoTrainer.Prepared> data = t.prepare(rankings());
      t.lossAndGradients(data).orElseThrow();
      int checked = 0;
      for (ParameterLayout.Entry e : policy.parameters().layout().entries()) {
        if (c.allParameters() || some.contains(e.name())) {
          INDArray param = policy.parameters().get(e.name()).array();
          INDArray grad = policy.gradients().get(e.name()).array().dup();
          GradientCheck.assertMatches(c.config().lossType() + " " + e.name(), param, grad, () -> t.lossOf(data), 1e-5);
          checked++;
        }
      }
      assertTrue(checked >= 2, "checked " + checked + " tensors");
    }
  }

  @Test
  void lossIsLog2AtTheStartAndKWayRankingsGiveTheirPairs() {
    ModelOptions opts = new ModelOptions(DataType.DOUBLE, 1);
    GptModel reference = perturbed(3, opts);
    GptModel policy = reference.copy(opts);
    DpoTrainer t = DpoTrainer.builder(DpoConfig.builder().build()).policy(policy).reference(reference).tokenizer(TOK).build();
    DpoEvaluation e = t.evaluate(rankings());
    assertEquals(Math.log(2), e.loss(), 1e-12, "policy == reference: h = 0 for every pair");
    assertEquals(0.0, e.margin(), 1e-12);
    assertEquals(1 + 3 + 1, e.pairs(), "a 3-way ranking gives 3 pairs");
  }

  @Test
  void trainingRaisesTheImplicitRewardAccuracyAndLeavesTheReferenceAlone() {
    ModelOptions opts = new ModelOptions(DataType.FLOAT, 1);
    GptModel reference = perturbed(4, opts);
    INDArray before = reference.parameters().flat().array().dup();
    GptModel policy = reference.copy(opts);
    List<Ranking> data = new ArrayList<>();
    String[] good = {"aab", "abba", "bab", "aaa", "bbab"};
    String[] bad = {"hhg", "ghh", "hgg", "ggh", "hhhg"};
    for (int i = 0; i < 20; i++) {
      data.add(Ranking.pairwise("rule", i + 1, "c", good[i % 5], bad[(i * 3) % 5]));
    }
    List<Metrics> steps = new ArrayList<>();
    TrainingListener rec = new TrainingListener() {
      @Override
      public void onStep(Metrics m) {
        steps.add(m);
      }
    };
    DpoConfig cfg = DpoConfig.builder().beta(0.1).learningRate(1e-2).maxSteps(30).promptsPerBatch(5).seed(9).build();
    DpoResult r = DpoTrainer.builder(cfg).policy(policy).reference(reference).tokenizer(TOK).listener(rec).build().train(data, data.subList(0, 10));
    assertEquals(0.0, reference.parameters().flat().array().sub(before).amaxNumber().doubleValue(), "the reference is frozen");
    assertEquals(30, r.steps());
    assertEquals(30, steps.size());
    for (String name : List.of("loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected", "learning_rate", "grad_norm")) {
      assertTrue(steps.get(0).get(name).isPresent(), name);
    }
    assertTrue(r.evaluations().get(0).get("eval/rewards/accuracies").isPresent());
    double acc = r.finalEval().get().accuracy();
    assertTrue(acc == 1.0 && r.finalEval().get().margin() > r.initialEval().get().margin() + 0.5,
        "a learnable rule: accuracy " + r.initialEval().get().accuracy() + " -> " + acc + ", margin " + r.initialEval().get().margin() + " -> " + r.finalEval().get().margin());
    assertTrue(r.finalLoss() < Math.log(2), "loss " + r.finalLoss());
  }

  @Test
  void sameSeedSameNumbersAndCheckpointRoundTrips(@TempDir Path tmp) {
    ModelOptions opts = new ModelOptions(DataType.FLOAT, 2);
    DpoConfig cfg = DpoConfig.builder().learningRate(5e-3).maxSteps(4).promptsPerBatch(2).seed(5).build();
    double[] losses = new double[2];
    GptModel last = null;
    DpoResult result = null;
    DpoTrainer trainer = null;
    for (int run = 0; run < 2; run++) {
      GptModel reference = perturbed(6, opts);
      GptModel policy = reference.copy(opts);
      trainer = DpoTrainer.builder(cfg).policy(policy).reference(reference).tokenizer(TOK).build();
      result = trainer.train(rankings(), rankings());
      losses[run] = result.finalEval().get().loss();
      last = policy;
    }
    assertEquals(losses[0], losses[1], 0.0, "same seed, same numbers");
    trainer.saveCheckpoint(tmp.resolve("dpo"), result, "sft");
    ModelCheckpoint.Loaded loaded = ModelCheckpoint.load(tmp.resolve("dpo"), opts);
    assertEquals(0.0, loaded.model().parameters().flat().array().sub(last.parameters().flat().array()).amaxNumber().doubleValue());
    assertEquals("dpo", loaded.provenance().trainer());
    assertEquals("sft", loaded.provenance().parent());
    assertEquals(result.finalEval().get().accuracy(), ((Number) loaded.extra().get("eval/rewards/accuracies")).doubleValue(), 1e-12);
  }

  @Test
  void configValidationNamesTheField() {
    Map<String, Runnable> bad = Map.of(
        "beta must be positive", () -> DpoConfig.builder().beta(0).build(),
        "labelSmoothing must be in [0, 0.5)", () -> DpoConfig.builder().labelSmoothing(0.5).build(),
        "labelSmoothing applies to the SIGMOID loss only", () -> DpoConfig.builder().lossType(DpoLoss.Type.IPO).labelSmoothing(0.1).build(),
        "learningRate must be positive", () -> DpoConfig.builder().learningRate(Double.NaN).build(),
        "promptsPerBatch must be >= 1", () -> DpoConfig.builder().promptsPerBatch(0).build(),
        "maxSteps must be >= 0", () -> DpoConfig.builder().maxSteps(-1).build());
    bad.forEach((msg, r) -> {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
      assertTrue(e.getMessage().contains(msg), e.getMessage());
    });
    assertEquals(SequenceLogProbs.Reduction.MEAN, DpoConfig.builder().lossType(DpoLoss.Type.IPO).build().reduction(), "IPO averages log-probs");
    assertEquals(SequenceLogProbs.Reduction.SUM, DpoConfig.builder().build().reduction());
    assertEquals("ipo", DpoConfig.builder().lossType(DpoLoss.Type.IPO).build().toMap().get("loss_type"));
  }

  @Test
  void misuseIsReported() {
    ModelOptions opts = new ModelOptions(DataType.FLOAT, 1);
    GptModel m = perturbed(1, opts);
    DpoConfig cfg = DpoConfig.builder().build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DpoTrainer.builder(cfg).policy(m).reference(m).tokenizer(TOK).build());
    assertTrue(e.getMessage().contains("different models"), e.getMessage());
    IllegalStateException s = assertThrows(IllegalStateException.class, () -> DpoTrainer.builder(cfg).policy(m).tokenizer(TOK).build());
    assertTrue(s.getMessage().contains("reference is not set"), s.getMessage());
    DpoTrainer t = DpoTrainer.builder(cfg).policy(m).reference(m.copy(opts)).tokenizer(TOK).build();
    DataFormatException d = assertThrows(DataFormatException.class, () -> t.train(List.of(Ranking.pairwise("long.jsonl", 7, "abc", "abcdefgh", "a")), List.of()));
    assertTrue(d.getMessage().contains("long.jsonl") && d.getMessage().contains("7"), d.getMessage());
    assertThrows(IllegalArgumentException.class, () -> t.train(List.of(), List.of()));
  }

  /**
   * DPO runs on the shared epoch loop, so it gets its checkpoints: a run stopped after step 3 and
   * resumed from its checkpoint ends with the uninterrupted run's loss and weights, bit for bit.
   */
  @Test
  void aResumedRunRepeatsTheUninterruptedOne(@TempDir Path tmp) {
    ModelOptions o = new ModelOptions(DataType.FLOAT, 1);
    DpoConfig cfg = DpoConfig.builder().beta(0.3).learningRate(1e-2).epochs(3).promptsPerBatch(2)
        .schedule(TrainingArguments.Schedule.COSINE).warmupSteps(1).seed(4).build();
    GptModel reference = perturbed(2, o);
    GptModel straight = perturbed(1, o);
    DpoResult full = DpoTrainer.builder(cfg).policy(straight).reference(reference).tokenizer(TOK).build().train(rankings(), List.of());
    GptModel first = perturbed(1, o);
    TrainingListener stopAfter3 = new TrainingListener() {
      private long step;

      @Override
      public void onStep(Metrics m) {
        step = m.step();
      }

      @Override
      public boolean stopRequested() {
        return step >= 3;
      }
    };
    DpoResult part = DpoTrainer.builder(cfg).policy(first).reference(reference).tokenizer(TOK).listener(stopAfter3)
        .checkpoints(tmp.resolve("dpo"), 3).build().train(rankings(), List.of());
    assertEquals(3, part.steps());
    GptModel resumed = perturbed(7, o); // other weights: the checkpoint's replace them
    DpoResult rest = DpoTrainer.builder(cfg).policy(resumed).reference(reference).tokenizer(TOK).resumeFrom(tmp.resolve("dpo")).build()
        .train(rankings(), List.of());
    assertEquals(full.steps(), rest.steps());
    assertEquals(full.finalLoss(), rest.finalLoss(), 0.0);
    assertEquals(straight.parameters().flat().array(), resumed.parameters().flat().array());
  }
}
