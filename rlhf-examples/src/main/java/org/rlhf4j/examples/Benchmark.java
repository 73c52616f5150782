package org.rlhf4j.examples;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.GptConfig;
import org.rlhf4j.core.model.GptModel;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.sft.SftLoss;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;

/**
 * Speed of the hand-written GPT on this machine (not a test): the machine's fp32 GEMM rate, training
 * steps (forward, backward, AdamW) of the {@code small} (vocab 256, d 128, 4 heads, 4 layers, context
 * 64, batch 16) and {@code medium} (d 256, 8 heads, 8 layers, context 128, batch 8) shapes in tokens/s
 * and as a fraction of the GEMM rate, KV-cached sampling in ms per token-step (batch 16, 64 new
 * tokens), and one PPO iteration (16 prompts, 48 new tokens, 4 epochs) on {@code small}. Warms up
 * before timing; prints medians. {@code --threads N} (default: all processors).
 */
public final class Benchmark {
  private Benchmark() {}

  /** One measured figure. */
  public record Figure(String name, double value, String unit) {}

  /** Runs the program from the command line (see the class documentation for its options). */
  public static void main(String[] args) throws Exception {
    int threads = Runtime.getRuntime().availableProcessors();
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (args[i].equals("--threads")) {
        threads = Integer.parseInt(args[i + 1]);
      }
    }
    Nd4j.getEnvironment().setMaxMasterThreads(1);
    for (Figure f : run(threads)) {
      System.out.printf(Locale.ROOT, "%-55s %12.2f %s%n", f.name(), f.value(), f.unit());
    }
  }

  /** Runs every measurement with {@code threads} shards. */
  public static List<Figure> run(int threads) throws Exception {
    List<Figure> out = new ArrayList<>();
    double peak = gemmPeak(threads);
    out.add(new Figure("fp32 GEMM 1024^3, " + threads + " threads", peak, "GFLOP/s"));
    GptConfig small = GptConfig.builder().vocabSize(256).dModel(128).heads(4).layers(4).contextLength(64).build();
    GptConfig medium = GptConfig.builder().vocabSize(256).dModel(256).heads(8).layers(8).contextLength(128).build();
    train(out, "small", small, 16, threads, peak, 30);
    train(out, "medium", medium, 8, threads, peak, 10);
    GptConfig sampleCfg = small.toBuilder().contextLength(128).build();
    out.add(new Figure("small: KV-cached sampling, batch 16, 64 new tokens", sampling(sampleCfg, threads), "ms/token-step"));
    ppo(out, small.toBuilder().contextLength(64).build(), threads);
    return out;
  }

  /** The fp32 GEMM rate with one single-threaded BLAS call per thread. */
  static double gemmPeak(int threads) throws Exception {
    int n = 1024;
    INDArray[] a = new INDArray[threads];
    INDArray[] b = new INDArray[threads];
    INDArray[] c = new INDArray[threads];
    for (int i = 0; i < threads; i++) {
      a[i] = Nd4j.rand(DataType.FLOAT, n, n);
      b[i] = Nd4j.rand(DataType.FLOAT, n, n);
      c[i] = Nd4j.create(DataType.FLOAT, n, n);
    }
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      double[] times = new double[8];
      for (int rep = -2; rep < times.length; rep++) {
        long t0 = System.nanoTime();
        List<Future<?>> fs = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
          final int k = i;
          fs.add(pool.submit(() -> Nd4j.gemm(a[k], b[k], c[k], false, false, 1.0, 0.0)));
        }
        for (Future<?> f : fs) {
          f.get();
        }
        if (rep >= 0) {
          times[rep] = (System.nanoTime() - t0) / 1e9;
        }
      }
      return threads * 2.0 * n * n * n / median(times) / 1e9;
    } finally {
      pool.shutdown();
    }
  }

  /** Model FLOPs of one training step: 6 N per token for the matrices, plus attention. */
  static double trainFlops(GptConfig c, int batch, int t) {
    long d = c.dModel();
    double matrices = 12.0 * d * d * c.layers() + (double) c.vocabSize() * d; // LM head included
    double attention = 2.0 * 2 * t * d * c.layers(); // QK^T and PV per token
    return 3 * 2 * (matrices + attention) * batch * t;
  }

  private static void train(List<Figure> out, String name, GptConfig c, int batch, int threads, double peak, int steps) {
    int t = c.contextLength();
    try (GptModel m = GptModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, threads));
        AdamW opt = new AdamW(AdamWConfig.builder().learningRate(1e-4).build(), m)) {
      Random r = new Random(0);
      int[][] rows = new int[batch][t];
      for (int[] row : rows) {
        Arrays.setAll(row, i -> r.nextInt(c.vocabSize()));
      }
      TokenBatch tokens = TokenBatch.unpadded(rows);
      INDArray mask = Nd4j.ones(DataType.FLOAT, batch, t - 1);
      double[] times = new double[steps];
      for (int s = -10; s < steps; s++) {
        long t0 = System.nanoTime();
        m.zeroGradients();
        ForwardPass p = m.forward(tokens);
        SftLoss.Result loss = SftLoss.compute(p.tokenLogProbs(1.0).logProbs(), mask);
        p.backward(OutputGradients.ofLogProbs(loss.gradLogProbs()));
        opt.step(loss.loss());
        if (s >= 0) {
          times[s] = (System.nanoTime() - t0) / 1e9;
        }
      }
      double sec = median(times);
      out.add(new Figure(name + ": training step (fwd+bwd+AdamW), batch " + batch + " x " + t, sec * 1e3, "ms"));
      out.add(new Figure(name + ": training throughput", batch * t / sec, "tokens/s"));
      out.add(new Figure(name + ": fraction of the GEMM rate", trainFlops(c, batch, t) / sec / 1e9 / peak, ""));
    }
  }

  private static double sampling(GptConfig c, int threads) {
    try (GptModel m = GptModel.randomInit(c, 2, new ModelOptions(DataType.FLOAT, threads))) {
      List<int[]> prompts = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        prompts.add(new int[] {1, 2 + i, 3, 4, 5, 6, 7, 8});
      }
      SamplingConfig cfg = SamplingConfig.builder().maxNewTokens(64).build();
      double[] times = new double[5];
      for (int rep = -3; rep < times.length; rep++) {
        long t0 = System.nanoTime();
        Generator.generate(m, prompts, cfg, rep, 0);
        if (rep >= 0) {
          times[rep] = (System.nanoTime() - t0) / 1e6 / 64;
        }
      }
      return median(times);
    }
  }

  private static void ppo(List<Figure> out, GptConfig c, int threads) {
    ByteTokenizer tok = ByteTokenizer.create();
    GptConfig cfg = c.toBuilder().vocabSize(tok.vocabSize()).build();
    try (GptModel ref = GptModel.randomInit(cfg, 3, new ModelOptions(DataType.FLOAT, threads))) {
      PpoConfig pc = PpoConfig.builder().rolloutBatchSize(16).miniBatchSize(4).ppoEpochs(4).maxNewTokens(48).seed(1).build();
      List<String> prompts = List.of("The film", "A story of", "Nothing about", "It is", "One of the", "An", "This", "If you");
      try (PpoTrainer trainer = PpoTrainer.builder(pc).policy(ref.withNewScalarHead(4)).reference(ref).rewardModel(new EmbeddingExample.CountLowercase())
          .tokenizer(tok).prompts(prompts).build()) {
        List<PpoStats> s = trainer.train(5);
        PpoStats last = s.get(s.size() - 1);
        double total = last.get("time/rollout") + last.get("time/scoring") + last.get("time/training");
        out.add(new Figure("small: PPO iteration (16 prompts, 48 new tokens, 4 epochs)", total, "s"));
        out.add(new Figure("  rollout (KV-cached sampling)", last.get("time/rollout"), "s"));
        out.add(new Figure("  scoring (policy, reference, reward forward passes)", last.get("time/scoring"), "s"));
        out.add(new Figure("  training (4 epochs x 4 minibatches)", last.get("time/training"), "s"));
        out.add(new Figure("  generated tokens per second of the iteration", last.get("time/tokens_per_second"), "tokens/s"));
      }
    }
  }

  private static double median(double[] xs) {
    double[] s = xs.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
