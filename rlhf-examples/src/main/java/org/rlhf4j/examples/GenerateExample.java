package org.rlhf4j.examples;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.hf.PretrainedModels;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * Loads a model — an rlhf4j checkpoint or a Hugging Face GPT-2 directory — and samples
 * continuations of a prompt: {@code --model DIR} (required), {@code
 * --prompt TEXT}, {@code --samples N}, {@code --max-new-tokens N}, {@code --temperature T}, {@code
 * --top-p P}, {@code --top-k K}, {@code --seed S}.
 */
public final class GenerateExample {
  private GenerateExample() {}

  /** Samples {@code samples} continuations of {@code prompt} from the checkpoint in {@code dir}. */
  public static List<String> run(Path dir, String prompt, int samples, SamplingConfig sampling, long seed) {
    PretrainedModels.Pretrained l = PretrainedModels.load(dir, new ModelOptions(DataType.FLOAT, Runtime.getRuntime().availableProcessors()));
    Tokenizer tok = l.tokenizer();
    try (GptModel model = l.model()) {
      int[] withBos = tok.encodePrompt(prompt, true);
      List<int[]> prompts = new ArrayList<>();
      for (int i = 0; i < samples; i++) {
        prompts.add(withBos);
      }
      int room = model.config().contextLength() - withBos.length;
      if (room < 1) {
        throw new IllegalArgumentException("the prompt has " + withBos.length + " tokens; the model's context is " + model.config().contextLength());
      }
      SamplingConfig cfg = sampling.toBuilder().stopTokens(tok.eosId()).maxNewTokens(Math.min(sampling.maxNewTokens(), room)).build();
      Generation g = Generator.generate(model, prompts, cfg, seed, tok.padId());
      List<String> out = new ArrayList<>();
      for (int i = 0; i < samples; i++) {
        out.add(tok.decode(g.response(i)));
      }
      return out;
    }
  }

  /** Runs the program from the command line (see the class documentation for its options). */
  public static void main(String[] args) {
    CpuBackend.configure(); // first, before anything loads ND4J: chooses the BLAS (MKL on Intel CPUs) and its kernels
    Path dir = null;
    String prompt = "";
    int samples = 3;
    long seed = 42;
    SamplingConfig.Builder s = SamplingConfig.builder().maxNewTokens(64);
    for (int i = 0; i + 1 < args.length; i += 2) {
      String v = args[i + 1];
      switch (args[i]) {
        case "--model" -> dir = Path.of(v);
        case "--prompt" -> prompt = v;
        case "--samples" -> samples = Integer.parseInt(v);
        case "--seed" -> seed = Long.parseLong(v);
        case "--max-new-tokens" -> s.maxNewTokens(Integer.parseInt(v));
        case "--temperature" -> s.temperature(Double.parseDouble(v));
        case "--top-p" -> s.topP(Double.parseDouble(v));
        case "--top-k" -> s.topK(Integer.parseInt(v));
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    if (dir == null) {
      throw new IllegalArgumentException("--model DIR is required (e.g. rlhf-output/quickstart/checkpoints/ppo)");
    }
    for (String text : run(dir, prompt, samples, s.build(), seed)) {
      System.out.println(prompt + text);
      System.out.println("---");
    }
  }
}
