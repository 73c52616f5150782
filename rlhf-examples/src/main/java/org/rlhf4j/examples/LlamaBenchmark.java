package org.rlhf4j.examples;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.lora.LlamaLora;
import org.rlhf4j.core.lora.LoraConfig;
import org.rlhf4j.core.lora.LoraLayers;
import org.rlhf4j.core.lora.TargetModules;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.llama.LlamaConfig;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.tensor.CpuBackend;

/**
 * Speed of the hand-written Llama-family model on this machine (not a test): a training step
 * (forward, backward, AdamW) and KV-cached sampling of a Llama-shaped model — SmolLM2's proportions
 * scaled down: vocabulary 4096, d 256, SwiGLU width 688, 8 query heads of 32 sharing 2 key/value heads
 * (grouped-query attention), 4 layers, context 128, tied head, rotary positions. {@code
 * tools/bench_torch.py --llama} runs the same shapes in PyTorch. Warms up before timing; prints
 * medians. Options: {@code --threads N} (default: all processors).
 */
public final class LlamaBenchmark {
  private LlamaBenchmark() {}

  /** The benchmarked shape. */
  public static LlamaConfig shape() {
    return LlamaConfig.builder()
        .vocabSize(4096)
        .hiddenSize(256)
        .intermediateSize(688)
        .layers(4)
        .heads(8)
        .kvHeads(2)
        .contextLength(128)
        .tiedEmbeddings(true)
        .build();
  }

  /** Runs the program from the command line. */
  public static void main(String[] args) {
    String blasChoice = CpuBackend.configure(); // before anything loads ND4J's native code
    int threads = Runtime.getRuntime().availableProcessors();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--threads")) {
        threads = Integer.parseInt(args[++i]);
      } else {
        throw new IllegalArgumentException("unknown option " + args[i] + " (known: --threads N)");
      }
    }
    Nd4j.getEnvironment().setMaxMasterThreads(1);
    System.out.println("CPU:    " + CpuBackend.cpuDescription() + "; rlhf4j threads " + threads);
    System.out.println("BLAS:   " + CpuBackend.blasDescription().orElse("(not loaded: " + blasChoice + ")"));
    for (Benchmark.Figure f : run(threads)) {
      System.out.printf(Locale.ROOT, "%-62s %12.2f %s%n", f.name(), f.value(), f.unit());
    }
  }

  /** The training step (batch 8 x 128) and sampling (batch 16, 64 new tokens) figures. */
  public static List<Benchmark.Figure> run(int threads) {
    List<Benchmark.Figure> out = new ArrayList<>();
    LlamaConfig c = shape();
    int batch = 8;
    int t = c.contextLength();
    String name = "llama (d 256, GQA 8/2, 4 layers, V 4096)";
    try (LlamaModel m = LlamaModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, threads));
        AdamW opt = new AdamW(AdamWConfig.builder().learningRate(1e-4).build(), m)) {
      double sec = Benchmark.medianSeconds(Benchmark.trainingStep(m, opt, batch), 10);
      out.add(new Benchmark.Figure(name + ": training step, batch " + batch + " x " + t, sec * 1e3, "ms"));
      out.add(new Benchmark.Figure(name + ": training throughput", batch * t / sec, "tokens/s"));
      out.add(new Benchmark.Figure(name + ": KV-cached sampling, batch 16, 64 new tokens", Benchmark.samplingMsPerTokenStep(m), "ms/token-step"));
    }
    // The same step with a LoRA adapter (r 8, alpha 16, every linear layer): the base is frozen, so only
    // the adapter gets gradients and AdamW state, and the base weights' gradient products are skipped.
    try (LlamaModel m = LlamaModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, threads));
        LoraLayers lora = LlamaLora.create(m, LoraConfig.builder().r(8).alpha(16).targetModules(TargetModules.allLinear()).build(), 2);
        AdamW opt = new AdamW(AdamWConfig.builder().learningRate(1e-4).build(), m)) {
      double sec = Benchmark.medianSeconds(Benchmark.trainingStep(m, opt, batch), 10);
      out.add(new Benchmark.Figure(name + ": LoRA r 8 training step, batch " + batch + " x " + t, sec * 1e3, "ms"));
      out.add(new Benchmark.Figure(name + ": LoRA trained parameters", lora.adapter().trainableParameterCount(), ""));
      m.setAdapters(null);
    }
    return out;
  }
}
