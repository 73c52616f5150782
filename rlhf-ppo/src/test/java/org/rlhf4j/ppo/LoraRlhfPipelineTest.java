package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.lora.LlamaLora;
import org.rlhf4j.core.lora.LoraAdapter;
import org.rlhf4j.core.lora.LoraConfig;
import org.rlhf4j.core.lora.LoraLayers;
import org.rlhf4j.core.lora.LoraReference;
import org.rlhf4j.core.lora.TargetModules;
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
 * A tiny Llama runs SFT → reward model → PPO (and DPO) with LoRA adapters alone: each stage's
 * trainer optimises just the attached adapter (the model's {@code trainable()}), the base weights
 * never change, and PPO's and DPO's reference is the policy's base with the adapter disabled (a
 * {@link LoraReference}, no second copy of the weights).
 */
class LoraRlhfPipelineTest {
  private static final DigitTokenizer TOK = new DigitTokenizer();

  private static LlamaModel tinyLlama() {
    LlamaConfig c = LlamaConfig.builder()
        .vocabSize(TOK.vocabSize())
        .hiddenSize(32)
        .intermediateSize(48)
        .layers(2)
        .heads(4)
        .kvHeads(2)
        .contextLength(24)
        .build();
    return LlamaModel.randomInit(c, 5, 0.1, new ModelOptions(DataType.FLOAT, 2));
  }

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

  private static LoraConfig lora(int r, List<String> save) {
    return LoraConfig.builder().r(r).alpha(2.0 * r).targetModules(TargetModules.allLinear()).modulesToSave(save).build();
  }

  private static INDArray weights(LlamaModel m) {
    return m.parameters().flat().array().dup();
  }

  @Test
  void sftRewardModelPpoAndDpoTrainOnlyAdapters(@TempDir Path tmp) throws Exception {
    TokenBatch probe = TokenBatch.of(1, 6, new int[] {1, 2, 3, 4, 5, 6}, new int[] {1, 1, 1, 1, 1, 1});
    try (LlamaModel sft = tinyLlama()) {
      // --- SFT: a LoRA adapter on every linear layer; SftTrainer's optimiser sees only the adapter
      INDArray pretrained = weights(sft);
      LoraLayers sftLora = LlamaLora.create(sft, lora(8, List.of()), 21);
      assertEquals(sftLora.adapter().trainableParameterCount(), sft.trainable().parameters().layout().totalSize());
      SftData corpus = SftData.fromCorpus(TOK.encode("0123456789".repeat(20)), 12);
      double lossBefore = SftTrainer.evaluate(sft, corpus, 8).loss();
      new SftTrainer(SftConfig.builder().learningRate(1e-2).maxSteps(40).batchSize(8).seed(1).build()).train(sft, corpus);
      double lossAfter = SftTrainer.evaluate(sft, corpus, 8).loss();
      assertTrue(lossAfter < lossBefore - 1.0, "SFT with LoRA should fit the corpus: " + lossBefore + " -> " + lossAfter);
      assertEquals(pretrained, sft.parameters().flat().array(), "SFT changed only the adapter");
      assertTrue(!sft.gradientsAllocated(), "and the frozen base never had a gradient buffer");
      sftLora.adapter().save(tmp.resolve("sft-adapter"));
      // the SFT model for what follows: the adapter merged for good (PEFT's merge_and_unload)
      LlamaLora.mergeAndUnload(sft, sftLora);
      assertTrue(SftTrainer.evaluate(sft, corpus, 8).loss() < lossBefore - 1.0);
      INDArray sftWeights = weights(sft);
      INDArray sftLogits = sft.forward(probe).logits().dup();

      // --- reward model: the SFT model with a new scalar head; LoRA plus the head (modules_to_save)
      LlamaModel rmModel = sft.withNewScalarHead(3);
      INDArray rmBase = weights(rmModel);
      LoraLayers rmLora = LlamaLora.create(rmModel, lora(8, List.of("scalar_head")), 22);
      TransformerRewardModel rm = TransformerRewardModel.wrap(rmModel);
      RewardResult rr = new RewardTrainer(RewardConfig.builder().learningRate(1e-2).epochs(3).promptsPerBatch(16).seed(2).build())
          .train(rm, TOK, rankings(160, 1), rankings(64, 2));
      double rmAccuracy = rr.finalEval().orElseThrow().accuracy();
      assertTrue(rmAccuracy > 0.75, "held-out reward accuracy with LoRA: " + rmAccuracy);
      assertEquals(rmBase, rmModel.parameters().flat().array(), "reward training changed only the adapter and its head copy");
      assertNotEquals(
          rmModel.parameters().get("scalar_head.weight").array(), rmLora.adapter().saved("scalar_head.weight").array(),
          "the trained head is the adapter's copy");

      // --- PPO: the policy is the SFT model plus a value head with a new adapter; the reference is its base
      LlamaModel policy = sft.withNewValueHead();
      LoraLayers ppoLora = LlamaLora.create(policy, lora(8, List.of("scalar_head")), 23);
      LoraAdapter ppoAdapter = ppoLora.adapter();
      INDArray adapterBefore = ppoAdapter.parameters().flat().array().dup();
      LoraReference reference = LoraReference.of(policy, ppoAdapter);
      assertEquals(sftLogits, reference.forward(probe).logits(), "the reference is the SFT model, without a copy");
      PpoTrainer ppo = PpoTrainer.builder(PpoTrainerTest.config().learningRate(1e-2).klCoef(0.1).build())
          .policy(policy)
          .reference(reference)
          .rewardModel(rm)
          .tokenizer(TOK)
          .prompts(PpoTrainerTest.prompts())
          .build();
      List<PpoStats> stats = ppo.train(12);
      double before = stats.subList(0, 3).stream().mapToDouble(s -> s.get("objective/scores")).average().orElseThrow();
      double after = stats.subList(9, 12).stream().mapToDouble(s -> s.get("objective/scores")).average().orElseThrow();
      assertTrue(after > before + 0.3, "PPO with LoRA should raise the learned reward: " + before + " -> " + after);
      assertEquals(sftWeights.length(), policy.parameters().flat().length() - 1 - sft.width(), "policy = SFT weights + value head");
      for (var e : sft.parameters().layout().entries()) {
        assertEquals(sft.parameters().get(e.name()).array(), policy.parameters().get(e.name()).array(), "PPO left " + e.name() + " alone");
      }
      assertEquals(0.0, policy.parameters().get("scalar_head.weight").array().amaxNumber().doubleValue(), "base value head untouched");
      assertNotEquals(adapterBefore, ppoAdapter.parameters().flat().array(), "PPO trained the adapter");
      assertTrue(!policy.gradientsAllocated(), "the policy's frozen base never had a gradient buffer");
      assertEquals(sftLogits, reference.forward(probe).logits(), "after PPO the reference is still exactly the SFT model");
      assertNotEquals(sftLogits, policy.forward(probe).logits(), "while the policy moved");
      assertEquals(sftWeights, weights(sft), "the SFT model itself never changed");

      // --- DPO against the same kind of reference
      try (LlamaModel dpoPolicy = sft.copy(sft.options())) {
        LoraLayers dpoLora = LlamaLora.create(dpoPolicy, lora(8, List.of()), 24);
        DpoResult dr = DpoTrainer.builder(DpoConfig.builder().beta(0.1).learningRate(1e-2).epochs(2).promptsPerBatch(16).seed(3).build())
            .policy(dpoPolicy)
            .reference(LoraReference.of(dpoPolicy, dpoLora.adapter()))
            .tokenizer(TOK)
            .build()
            .train(rankings(160, 1), rankings(64, 2));
        double dpoAccuracy = dr.finalEval().orElseThrow().accuracy();
        assertTrue(dpoAccuracy > 0.75, "held-out DPO accuracy with LoRA: " + dpoAccuracy);
        assertEquals(sftWeights, weights(dpoPolicy), "DPO changed only the adapter");
        System.out.printf(
            "LoRA pipeline: SFT loss %.2f -> %.2f; reward accuracy %.3f; PPO score %.2f -> %.2f; DPO accuracy %.3f; adapter %d of %d parameters%n",
            lossBefore, lossAfter, rmAccuracy, before, after, dpoAccuracy, ppoAdapter.trainableParameterCount(),
            policy.parameters().flat().length());
        dpoPolicy.setAdapters(null);
        dpoLora.close();
      }
      policy.setAdapters(null);
      ppoLora.close();
      policy.close();
      rmModel.setAdapters(null);
      rmLora.close();
      rm.close();
    }
  }
}
