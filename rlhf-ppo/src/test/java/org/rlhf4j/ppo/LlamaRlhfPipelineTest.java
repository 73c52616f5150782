package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.llama.LlamaConfig;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.reward.RewardConfig;
import org.rlhf4j.reward.RewardResult;
import org.rlhf4j.reward.RewardTrainer;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.dpo.DpoConfig;
import org.rlhf4j.reward.dpo.DpoResult;
import org.rlhf4j.reward.dpo.DpoTrainer;

/**
 * A Llama-family model (grouped-query attention, q/k/v biases, a tied head: the Qwen2 shape) goes
 * wherever a GPT goes: SFT on a corpus, a reward model trained from it on rankings, PPO with it as
 * the policy (and value head) against the frozen SFT reference, DPO, and KV-cached sampling.
 */
class LlamaRlhfPipelineTest {
  private static final DigitTokenizer TOK = new DigitTokenizer();

  private static LlamaModel tinyLlama() {
    LlamaConfig c = LlamaConfig.builder()
        .family(LlamaConfig.Family.QWEN2)
        .vocabSize(TOK.vocabSize())
        .hiddenSize(32)
        .intermediateSize(48)
        .layers(2)
        .heads(4)
        .kvHeads(2)
        .contextLength(24)
        .qkvBias(true)
        .tiedEmbeddings(true)
        .build();
    return LlamaModel.randomInit(c, 5, 0.1, new ModelOptions(DataType.FLOAT, 2));
  }

  /** Rankings whose preferred response has more 7s. */
  private static List<Ranking> rankings(int n, long seed) {
    Random r = new Random(seed);
    List<Ranking> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      String prompt = String.valueOf(r.nextInt(10));
      StringBuilder good = new StringBuilder();
      StringBuilder bad = new StringBuilder();
      for (int j = 0; j < 4; j++) {
        good.append(r.nextInt(2) == 0 ? 7 : r.nextInt(10));
        int d = r.nextInt(10);
        bad.append(d == 7 ? 3 : d);
      }
      out.add(Ranking.pairwise(prompt, good.toString(), bad.toString()));
    }
    return out;
  }

  @Test
  void sftRewardModelPpoDpoAndSamplingRunOnALlama() {
    try (LlamaModel sft = tinyLlama()) {
      // --- SFT (pre-training on a repeating digit corpus)
      SftData corpus = SftData.fromCorpus(TOK.encode("0123456789".repeat(20)), 12);
      double lossBefore = SftTrainer.evaluate(sft, corpus, 8).loss();
      new SftTrainer(SftConfig.builder().learningRate(3e-3).maxSteps(40).batchSize(8).seed(1).build()).train(sft, corpus);
      double lossAfter = SftTrainer.evaluate(sft, corpus, 8).loss();
      assertTrue(lossAfter < lossBefore - 1.0, "SFT should fit the corpus: " + lossBefore + " -> " + lossAfter);

      // --- KV-cached sampling continues the pattern
      Generation g = Generator.generate(sft, List.of(TOK.encode("0123"), TOK.encode("45")), SamplingConfig.builder().greedy(true).maxNewTokens(4).build(), 1, TOK.padId());
      assertEquals("4567", TOK.decode(g.response(0), true));
      assertEquals("6789", TOK.decode(g.response(1), true));

      // --- reward model from the SFT model
      TransformerRewardModel rm = TransformerRewardModel.fromPolicy(sft, 3);
      RewardResult rr = new RewardTrainer(RewardConfig.builder().learningRate(3e-3).epochs(3).promptsPerBatch(16).seed(2).build())
          .train(rm, TOK, rankings(160, 1), rankings(64, 2));
      assertTrue(rr.finalEval().orElseThrow().accuracy() > 0.8, "held-out reward accuracy: " + rr.finalEval());

      // --- PPO: the policy (with a value head) against the frozen SFT reference, scored by the learned reward model
      INDArray refBefore = sft.parameters().flat().array().dup();
      PpoTrainer ppo = PpoTrainer.builder(PpoTrainerTest.config().klCoef(0.1).build())
          .policy(sft.withNewValueHead())
          .reference(sft)
          .rewardModel(rm)
          .tokenizer(TOK)
          .prompts(PpoTrainerTest.prompts())
          .build();
      List<PpoStats> stats = ppo.train(12);
      double before = stats.subList(0, 3).stream().mapToDouble(s -> s.get("objective/scores")).average().orElseThrow();
      double after = stats.subList(9, 12).stream().mapToDouble(s -> s.get("objective/scores")).average().orElseThrow();
      assertTrue(after > before + 0.5, "PPO should raise the learned reward: " + before + " -> " + after);
      assertEquals(refBefore, sft.parameters().flat().array(), "the reference model must never be updated");

      // --- DPO on the same preferences
      try (LlamaModel policy = sft.copy(sft.options())) {
        DpoResult dr = DpoTrainer.builder(DpoConfig.builder().beta(0.1).learningRate(2e-3).epochs(2).promptsPerBatch(16).seed(3).build())
            .policy(policy)
            .reference(sft)
            .tokenizer(TOK)
            .build()
            .train(rankings(160, 1), rankings(64, 2));
        assertTrue(dr.finalEval().orElseThrow().accuracy() > 0.8, "held-out DPO implicit-reward accuracy: " + dr.finalEval());
        System.out.printf(
            "Llama pipeline: SFT loss %.2f -> %.2f; reward accuracy %.3f; PPO score %.2f -> %.2f; DPO accuracy %.3f%n",
            lossBefore, lossAfter, rr.finalEval().orElseThrow().accuracy(), before, after, dr.finalEval().orElseThrow().accuracy());
      }
    }
  }

  /**
   * Saved Llama models load back through the family-neutral checkpoint loader: a reward model
   * ({@code TransformerRewardModel.load}) scores as before, and a PPO run resumed from its checkpoint
   * (the Llama policy loaded by the trainer) repeats the uninterrupted run exactly.
   */
  @Test
  void rewardModelAndPpoResumeWorkWithALlama(@TempDir Path tmp) {
    try (LlamaModel sft = tinyLlama()) {
      TransformerRewardModel rm = TransformerRewardModel.fromPolicy(sft, 3);
      rm.save(tmp.resolve("rm"), Provenance.of("reward", 3, Map.of(), null), null);
      TokenBatch probe = TokenBatch.rightPadded(List.of(TOK.encode("7777"), TOK.encode("12")), TOK.padId());
      TransformerRewardModel back = TransformerRewardModel.load(tmp.resolve("rm"), sft.options());
      assertTrue(back.model() instanceof LlamaModel, "a Llama comes back: " + back.model());
      assertEquals(rm.score(probe), back.score(probe));

      PpoConfig cfg = PpoTrainerTest.config().build();
      List<PpoStats> straight;
      try (PpoTrainer t = builder(cfg, sft).policy(sft.withNewValueHead()).build()) {
        straight = t.train(4);
      }
      try (PpoTrainer first = builder(cfg, sft).policy(sft.withNewValueHead()).checkpoints(tmp.resolve("run"), 2).build()) {
        first.train(2);
      }
      try (PpoTrainer resumed = builder(cfg, sft).resumeFrom(tmp.resolve("run")).build()) {
        assertTrue(resumed.policy() instanceof LlamaModel);
        List<PpoStats> rest = resumed.train(2);
        for (int i = 0; i < 2; i++) {
          for (Map.Entry<String, Double> e : straight.get(2 + i).values().entrySet()) {
            if (!e.getKey().startsWith("time/")) {
              assertEquals(e.getValue(), rest.get(i).get(e.getKey()), 0.0, "step " + (3 + i) + " " + e.getKey());
            }
          }
        }
      }
    }
  }

  private static PpoTrainer.Builder builder(PpoConfig cfg, LlamaModel sft) {
    return PpoTrainer.builder(cfg).reference(sft).rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(TOK).prompts(PpoTrainerTest.prompts());
  }
}
