package org.rlhf4j.examples;

import java.util.List;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.ppo.GrpoConfig;
import org.rlhf4j.ppo.GrpoStats;
import org.rlhf4j.ppo.GrpoTrainer;

/**
 * GRPO or RLOO with an application's own reward rule (the lowercase letters of the response, as
 * {@link EmbeddingExample} does for PPO): G completions per prompt, no value head. Arguments:
 * {@code [steps] [grpo|rloo]}.
 */
public final class GrpoExample {
  private GrpoExample() {}

  /** Runs {@code steps} steps of GRPO ({@code rloo} false) or RLOO (8 prompts x 4 completions each) and returns their statistics. */
  public static List<GrpoStats> run(int steps, long seed, boolean rloo) {
    ByteTokenizer tok = ByteTokenizer.create();
    GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(32).heads(2).layers(2).contextLength(32).build();
    GptModel reference = GptModel.randomInit(cfg, seed); // in practice: ModelCheckpoint.load(sftDir, ...)
    GrpoConfig.Builder b = rloo ? GrpoConfig.rlooBuilder().beta(0.1) : GrpoConfig.builder().beta(0.04);
    GrpoConfig grpo = b.learningRate(3e-3).numGenerations(4).batchSize(32).miniBatchSize(16).numIterations(2)
        .maxNewTokens(12).seed(seed).build();
    List<String> prompts = List.of("Hi", "Tell me", "Once upon", "A", "The", "So", "We", "It", "My", "Why", "Oh", "Yes", "No", "Go", "I", "Be");
    try (GrpoTrainer trainer = GrpoTrainer.builder(grpo).policy(reference.copy(reference.options())).reference(reference)
        .rewardModel(new EmbeddingExample.CountLowercase()).tokenizer(tok).prompts(prompts).build()) {
      return trainer.train(steps);
    }
  }

  /** Runs the program from the command line: {@code [steps] [grpo|rloo]}. */
  public static void main(String[] args) {
    CpuBackend.configure(); // first, before anything loads ND4J: chooses the BLAS (MKL on Intel CPUs) and its kernels
    boolean rloo = args.length > 1 && args[1].equalsIgnoreCase("rloo");
    for (GrpoStats s : run(args.length > 0 ? Integer.parseInt(args[0]) : 20, 42, rloo)) {
      System.out.printf("step %d: mean score %.2f, KL %.2f%n", s.step(), s.get("objective/scores"), s.get("objective/kl"));
    }
  }
}
