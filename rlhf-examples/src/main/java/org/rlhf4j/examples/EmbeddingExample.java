package org.rlhf4j.examples;

import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;
import org.rlhf4j.reward.RewardModel;

/** The API an application uses: a policy, its own reward rule, and PPO steps from its own loop. */
public final class EmbeddingExample {
  private EmbeddingExample() {}
  /** The application's reward: +1 for every lowercase letter in the response. */
  static final class CountLowercase implements RewardModel {
    @Override
    public INDArray score(TokenBatch seq) {
      return score(seq, 0);
    }

    @Override
    public INDArray score(TokenBatch seq, int responseStart) {
      double[] s = new double[seq.batchSize()];
      for (int b = 0; b < s.length; b++) {
        for (int t = responseStart; t < seq.length(); t++) {
          s[b] += seq.mask(b, t) == 1 && seq.id(b, t) >= 'a' && seq.id(b, t) <= 'z' ? 1 : 0;
        }
      }
      return Nd4j.createFromArray(s);
    }
  }

  /** Runs {@code steps} PPO steps (16 episodes each) and returns their statistics. */
  public static List<PpoStats> run(int steps, long seed) {
    ByteTokenizer tok = ByteTokenizer.create();
    GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(32).heads(2).layers(2).contextLength(32).build();
    GptModel reference = GptModel.randomInit(cfg, seed); // in practice: ModelCheckpoint.load(sftDir, ...)
    GptModel policy = reference.withNewValueHead(); // trained copy with a value head (starting at zero)
    PpoConfig ppo = PpoConfig.builder().learningRate(3e-3).rolloutBatchSize(16).miniBatchSize(8).maxNewTokens(12).klCoef(0.1).seed(seed).build();
    List<String> prompts = List.of("Hi", "Tell me", "Once upon", "A", "The", "So", "We", "It", "Hi", "My", "Why", "Oh", "Yes", "No", "Go", "I");
    List<PpoStats> stats = new ArrayList<>();
    try (PpoTrainer trainer = PpoTrainer.builder(ppo).policy(policy).reference(reference).rewardModel(new CountLowercase()).tokenizer(tok).build()) {
      for (int i = 0; i < steps; i++) {
        stats.add(trainer.step(prompts));
      }
    }
    return stats;
  }

  /** Runs the program from the command line (see the class documentation for its options). */
  public static void main(String[] args) {
    CpuBackend.configure(); // first, before anything loads ND4J: chooses the BLAS (MKL on Intel CPUs) and its kernels
    for (PpoStats s : run(args.length > 0 ? Integer.parseInt(args[0]) : 20, 42)) {
      System.out.printf("step %d: mean score %.2f, KL %.2f%n", s.step(), s.meanScore(), s.kl());
    }
  }
}
