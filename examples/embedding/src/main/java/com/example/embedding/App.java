package com.example.embedding;

import java.util.List;
import org.rlhf4j.core.data.SftExample;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.core.train.LoggingListener;
import org.rlhf4j.ppo.CompletionsTable;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;
import org.rlhf4j.reward.RewardConfig;
import org.rlhf4j.reward.RewardModel;
import org.rlhf4j.reward.RewardTrainer;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.reward.data.Ranking;

/** An application's RLHF: SFT, a reward model from its comparisons, PPO against that plus a rule on the texts. */
public final class App {
  private App() {}

  /** Runs the three steps on the application's (made-up) data; returns the PPO steps' statistics. */
  public static List<PpoStats> run(int ppoSteps, long seed) {
    ByteTokenizer tok = ByteTokenizer.create();
    List<String> names = List.of("Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu");
    List<String> prompts = names.stream().map(n -> "Hi " + n + ".").toList();
    List<SftExample> demos = names.stream().map(n -> new SftExample("Hi " + n + ".", " Hello " + n + ", how are you?")).toList();
    List<Ranking> prefs = names.stream().map(n -> Ranking.pairwise("Hi " + n + ".", " hello there", " GO AWAY")).toList();
    GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(32).heads(2).layers(2).contextLength(40).build();
    try (GptModel sft = GptModel.randomInit(cfg, seed)) {
      // 1. SFT on demonstrations (loss on the completions; lengths and BOS from the config)
      SftTrainer.builder(SftConfig.builder().learningRate(3e-3).maxSteps(60).seed(seed).build())
          .listener(new LoggingListener(20)).build().train(sft, demos, tok);
      // 2. a reward model from the application's comparisons, initialised from the SFT model
      try (TransformerRewardModel rm = TransformerRewardModel.fromPolicy(sft, seed);
          GptModel policy = sft.withNewValueHead()) {
        RewardTrainer.builder(RewardConfig.builder().learningRate(3e-3).epochs(8).seed(seed).build())
            .listener(new LoggingListener(4)).build().train(rm, tok, prefs);
        // 3. PPO: the reward model's score plus a rule on the texts (lowercase letters count)
        RewardModel reward = rm.plus(RewardModel.ofText(tok, (prompt, response) -> response.chars().filter(Character::isLowerCase).count() / 4.0));
        PpoConfig ppo = PpoConfig.builder().learningRate(1e-3).rolloutBatchSize(16).miniBatchSize(8).maxNewTokens(12).klCoef(0.1).seed(seed).build();
        try (PpoTrainer trainer = PpoTrainer.builder(ppo).policy(policy).reference(sft).rewardModel(reward).tokenizer(tok)
            .prompts(prompts).listener(new LoggingListener(5)).stepListener(CompletionsTable.logging(5, 4)).build()) {
          return trainer.train(ppoSteps);
        }
      }
    }
  }

  /** {@code App [steps]}: prints the mean score of each PPO step. */
  public static void main(String[] args) {
    CpuBackend.configure(); // first, before anything loads ND4J: chooses the BLAS (MKL on Intel CPUs) and its kernels
    for (PpoStats s : run(args.length > 0 ? Integer.parseInt(args[0]) : 20, 42)) {
      System.out.printf("step %d: mean score %.2f, KL %.2f, e.g. \"%s\"%n", s.step(), s.meanScore(), s.kl(), s.completions().get(0).response());
    }
  }
}
