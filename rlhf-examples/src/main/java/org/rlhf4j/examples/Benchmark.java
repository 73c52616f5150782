package org.rlhf4j.examples;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.AdamWConfig;
import org.rlhf4j.core.sft.SftLoss;
import org.rlhf4j.core.tensor.Blas;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tensor.Tensor;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;

/**
 * Speed of the hand-written GPT on this machine (not a test). Prints first the CPU, the BLAS library
 * and kernels in use and the start-up check of the products, then: the machine's fp32 GEMM rate;
 * training steps (forward, backward, AdamW) of the {@code small} (vocab 256, d 128, 4 heads, 4
 * layers, context 64, batch 16) and {@code medium} (d 256, 8 heads, 8 layers, context 128, batch 8)
 * shapes in ms, tokens/s and model GFLOP/s, then the machine's best measured fp32 GEMM rate right
 * after them ({@link #bestGemm}) and the steps' fractions of it; KV-cached sampling in ms per token-step
 * (batch 16, 64 new tokens); one PPO iteration (16 prompts, 48 new tokens, 4 epochs) on {@code
 * small}; and the thread scaling at batch 1 (training steps of {@code small} and {@code medium} and
 * decode steps of {@code small}, {@code medium} and {@code wide}: d 512, 8 heads, 8 layers, vocab
 * 8192; a decode session's prefill untimed), 1 thread against all, measured alternately. Warms up
 * before timing; prints medians.
 *
 * <p>Options: {@code --threads N} (default: all processors); {@code --only gemm,train,sample,ppo,scaling}
 * (a comma-separated subset); {@code --soak [STEPS]}: instead, a memory soak of STEPS (default 1000)
 * PPO steps on the {@code tiny} preset's shapes, printing the resident set size and ND4J's off-heap
 * bytes every 100 steps.
 */
public final class Benchmark {
  private Benchmark() {}

  /** One measured figure. */
  public record Figure(String name, double value, String unit) {}

  /** Runs the program from the command line (see the class documentation for its options). */
  public static void main(String[] args) throws Exception {
    String blasChoice = CpuBackend.configure(); // before anything loads ND4J's native code
    int threads = Runtime.getRuntime().availableProcessors();
    Set<String> only = Set.of("gemm", "train", "sample", "ppo", "scaling");
    int soak = 0;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--threads" -> threads = Integer.parseInt(args[++i]);
        case "--only" -> only = Set.of(args[++i].split(","));
        case "--soak" -> soak = i + 1 < args.length && !args[i + 1].startsWith("--") ? Integer.parseInt(args[++i]) : 1000;
        default -> throw new IllegalArgumentException(
            "unknown option " + args[i] + " (known: --threads N, --only gemm,train,sample,ppo,scaling, --soak [STEPS])");
      }
    }
    Nd4j.getEnvironment().setMaxMasterThreads(1);
    System.out.println("CPU:    " + CpuBackend.cpuDescription());
    System.out.println("BLAS:   " + CpuBackend.blasDescription().orElse("(not loaded: " + blasChoice + ")"));
    System.out.println("check:  " + Blas.validation());
    System.out.println(
        "env:    OPENBLAS_CORETYPE=" + System.getenv("OPENBLAS_CORETYPE") + " OPENBLAS_L2_SIZE=" + System.getenv("OPENBLAS_L2_SIZE")
            + " OMP_NUM_THREADS=" + System.getenv("OMP_NUM_THREADS") + "; rlhf4j threads " + threads);
    if (soak > 0) {
      soak(soak, threads);
      return;
    }
    for (Figure f : run(threads, only)) {
      System.out.printf(Locale.ROOT, "%-62s %12.2f %s%n", f.name(), f.value(), f.unit());
    }
  }

  /** Runs every measurement with {@code threads} shards. */
  public static List<Figure> run(int threads) throws Exception {
    return run(threads, Set.of("gemm", "train", "sample", "ppo", "scaling"));
  }

  /** Runs the measurements named in {@code only} (gemm, train, sample, ppo, scaling). */
  public static List<Figure> run(int threads, Set<String> only) throws Exception {
    List<Figure> out = new ArrayList<>();
    if (only.contains("gemm")) {
      out.add(new Figure("fp32 GEMM 1024^3, " + threads + " threads", gemmPeak(threads), "GFLOP/s"));
    }
    GptConfig small = GptConfig.builder().vocabSize(256).dModel(128).heads(4).layers(4).contextLength(64).build();
    GptConfig medium = GptConfig.builder().vocabSize(256).dModel(256).heads(8).layers(8).contextLength(128).build();
    if (only.contains("train")) {
      double smallRate = train(out, "small", small, 16, threads, 30);
      double mediumRate = train(out, "medium", medium, 8, threads, 10);
      // the machine's best GEMM rate, measured right after the steps (the VM's speed drifts within minutes)
      GemmRates g = bestGemm(threads);
      out.add(new Figure("fp32 GEMM 1024^3, a product per thread: best of 15", g.perThreadBest(), "GFLOP/s"));
      out.add(new Figure("fp32 GEMM 1024^3, a product per thread: median", g.perThreadMedian(), "GFLOP/s"));
      if (!Double.isNaN(g.blas1024Best())) {
        out.add(new Figure("fp32 GEMM 1024^3 on " + threads + " BLAS threads: best of 15", g.blas1024Best(), "GFLOP/s"));
        out.add(new Figure("fp32 GEMM 1024^3 on " + threads + " BLAS threads: median", g.blas1024Median(), "GFLOP/s"));
        out.add(new Figure("fp32 GEMM 2048^3 on " + threads + " BLAS threads: best of 15", g.blas2048Best(), "GFLOP/s"));
        out.add(new Figure("fp32 GEMM 2048^3 on " + threads + " BLAS threads: median", g.blas2048Median(), "GFLOP/s"));
      }
      out.add(new Figure("fp32 GEMM: best measured rate (the highest above)", g.best(), "GFLOP/s"));
      out.add(new Figure("small: fraction of the best measured GEMM rate", smallRate / g.best(), ""));
      out.add(new Figure("medium: fraction of the best measured GEMM rate", mediumRate / g.best(), ""));
    }
    GptConfig sampleCfg = small.toBuilder().contextLength(128).build();
    if (only.contains("sample")) {
      out.add(new Figure("small: KV-cached sampling, batch 16, 64 new tokens", sampling(sampleCfg, threads), "ms/token-step"));
    }
    if (only.contains("ppo")) {
      ppo(out, small.toBuilder().contextLength(64).build(), threads);
    }
    if (only.contains("scaling") && threads > 1) {
      scaling(out, "small: training step, batch 1 x 64", small, threads, m -> trainStepper(m, 1), 5);
      scaling(out, "small: KV-cached decode step, batch 1", sampleCfg, threads, Benchmark::decodeStepper, 60);
      scaling(out, "medium: training step, batch 1 x 128", medium, threads, m -> trainStepper(m, 1), 3);
      scaling(out, "medium: KV-cached decode step, batch 1", medium, threads, Benchmark::decodeStepper, 60);
      GptConfig wide = GptConfig.builder().vocabSize(8192).dModel(512).heads(8).layers(8).contextLength(128).build();
      scaling(out, "wide: KV-cached decode step, batch 1", wide, threads, Benchmark::decodeStepper, 16);
    }
    return out;
  }

  /** One timed unit of work on a model, set up once. */
  interface Stepper extends AutoCloseable {
    void step();

    /** Untimed preparation before a round of {@code steps} steps (e.g. a new decode session). */
    default void prepare(int steps) {}

    @Override
    void close();
  }

  /** The least time the rounds of a thread-scaling figure take together (see {@link #scaling}). */
  static final long SCALING_WINDOW_NANOS = 3_000_000_000L;
  /** The fewest rounds of a thread-scaling figure. */
  static final int SCALING_MIN_ROUNDS = 7;

  /**
   * Times {@code stepsPerRound} steps on a 1-thread and a {@code threads}-thread copy of the same
   * model, alternately, after warm-up rounds (see {@link #warmUp}): rounds until they have taken
   * {@link #SCALING_WINDOW_NANOS} together and at least {@link #SCALING_MIN_ROUNDS}; reports {@link
   * #scalingFigures}. A round takes milliseconds, while on a shared VM the second core's gain comes
   * and goes in stretches of seconds (measured on the 2-core Zen 5 VM: 1.0-1.3x for one to several
   * seconds at a time, between stretches at 1.7-1.85x, with the worker running its half of the work):
   * rounds spread over seconds, each compared with its own pair, make the figure the code's rather
   * than one stretch's.
   */
  private static void scaling(List<Figure> out, String name, GptConfig c, int threads, java.util.function.Function<GptModel, Stepper> make, int stepsPerRound) {
    try (GptModel one = GptModel.randomInit(c, 5, new ModelOptions(DataType.FLOAT, 1));
        GptModel many = one.copy(new ModelOptions(DataType.FLOAT, threads));
        Stepper s1 = make.apply(one);
        Stepper sn = make.apply(many)) {
      warmUp(() -> round(s1, sn, stepsPerRound, new double[2]));
      List<double[]> rounds = new ArrayList<>();
      long start = System.nanoTime();
      while (rounds.size() < SCALING_MIN_ROUNDS || System.nanoTime() - start < SCALING_WINDOW_NANOS) {
        double[] ms = new double[2];
        round(s1, sn, stepsPerRound, ms);
        rounds.add(ms);
      }
      ScalingFigures f = scalingFigures(rounds);
      out.add(new Figure(name + ", 1 thread", f.oneMs(), "ms"));
      out.add(new Figure(name + ", " + threads + " threads", f.manyMs(), "ms"));
      out.add(new Figure(name + ", speed-up with " + threads + " threads", f.speedUp(), "x"));
    }
  }

  /** A thread-scaling figure: the median ms per step of each copy, and the median of the rounds' ratios. */
  record ScalingFigures(double oneMs, double manyMs, double speedUp) {}

  /**
   * The figures of {@code rounds}, each {@code {ms per step on 1 thread, ms per step on N threads}}
   * of one round: the median of each column, and as the speed-up the median of the rounds' own
   * ratios (not the ratio of the medians: a round's two halves share the machine's state of the
   * moment). Medians of an even count take the upper middle value.
   */
  static ScalingFigures scalingFigures(List<double[]> rounds) {
    checkArgument(!rounds.isEmpty(), "no rounds");
    return new ScalingFigures(
        median(rounds.stream().mapToDouble(r -> r[0]).toArray()),
        median(rounds.stream().mapToDouble(r -> r[1]).toArray()),
        median(rounds.stream().mapToDouble(r -> r[0] / r[1]).toArray()));
  }

  /**
   * Runs {@code round} until the JIT has compiled what it runs: at least 2 rounds and 1 s, then until
   * a whole round (and at least 0.5 s) passes without compilation, at most 20 s. The compiler's threads
   * otherwise take a core from an N-thread measurement's workers during its first rounds (the JVM
   * reports its compile time through {@link java.lang.management.CompilationMXBean}; without that
   * monitoring, 3 s).
   */
  static void warmUp(Runnable round) {
    java.lang.management.CompilationMXBean jit = java.lang.management.ManagementFactory.getCompilationMXBean();
    boolean timed = jit != null && jit.isCompilationTimeMonitoringSupported();
    long start = System.nanoTime();
    long quietSince = start;
    long compiled = timed ? jit.getTotalCompilationTime() : 0;
    for (int warm = 0; ; warm++) {
      round.run();
      long now = System.nanoTime();
      long total = timed ? jit.getTotalCompilationTime() : 0;
      if (total != compiled) {
        compiled = total;
        quietSince = now;
      }
      boolean settled = timed ? now - quietSince >= 500_000_000L : now - start >= 3_000_000_000L;
      if (warm >= 1 && now - start >= 1_000_000_000L && settled || now - start >= 20_000_000_000L) {
        return;
      }
    }
  }

  /** One round: {@code steps} steps of {@code s1}, then of {@code sn}; their ms per step into {@code ms[0], ms[1]}. */
  private static void round(Stepper s1, Stepper sn, int steps, double[] ms) {
    for (int which = 0; which < 2; which++) {
      Stepper s = which == 0 ? s1 : sn;
      s.prepare(steps);
      long t0 = System.nanoTime();
      for (int i = 0; i < steps; i++) {
        s.step();
      }
      ms[which] = (System.nanoTime() - t0) / 1e6 / steps;
    }
  }

  /** A training step (forward, backward, AdamW) on {@code batch} random rows of the full context. */
  private static Stepper trainStepper(GptModel m, int batch) {
    AdamW opt = new AdamW(AdamWConfig.builder().learningRate(1e-4).build(), m);
    Runnable step = trainingStep(m, opt, batch);
    return new Stepper() {
      @Override
      public void step() {
        step.run();
      }

      @Override
      public void close() {
        opt.close();
      }
    };
  }

  /**
   * One training step of {@code m} (zero the gradients, forward, SFT loss, backward, AdamW) on {@code
   * batch} rows of random tokens (seed 0) over the full context; the same rows at every call.
   */
  static Runnable trainingStep(CausalLm m, AdamW opt, int batch) {
    int t = m.contextLength();
    Random r = new Random(0);
    int[][] rows = new int[batch][t];
    for (int[] row : rows) {
      Arrays.setAll(row, i -> r.nextInt(m.vocabSize()));
    }
    TokenBatch tokens = TokenBatch.unpadded(rows);
    INDArray mask = Nd4j.ones(DataType.FLOAT, batch, t - 1);
    return () -> {
      m.zeroGradients();
      ForwardPass p = m.forward(tokens);
      SftLoss.Result loss = SftLoss.compute(p.tokenLogProbs(1.0).logProbs(), mask);
      p.backward(OutputGradients.ofLogProbs(loss.gradLogProbs()));
      opt.step(loss.loss());
    };
  }

  /**
   * Seconds per call of {@code step} in a steady state: the median of {@code calls} calls after
   * {@link #warmUp} (as a long training run sees it, and as the scaling figures are taken).
   */
  static double medianSeconds(Runnable step, int calls) {
    warmUp(step);
    double[] times = new double[calls];
    for (int s = 0; s < calls; s++) {
      long t0 = System.nanoTime();
      step.run();
      times[s] = (System.nanoTime() - t0) / 1e9;
    }
    return median(times);
  }

  /**
   * One KV-cached decode step for one sequence (8-token prompt; a new session, untimed, when the
   * cache has no room for the next round).
   */
  private static Stepper decodeStepper(GptModel m) {
    int cap = m.config().contextLength();
    int[] prompt = {1, 2, 3, 4, 5, 6, 7, 8};
    int vocab = m.config().vocabSize();
    return new Stepper() {
      DecodeSession session;
      int token = 9;

      @Override
      public void prepare(int steps) {
        if (session == null || session.length() + steps > cap) {
          if (session != null) {
            session.close();
          }
          session = m.newDecodeSession(1, cap);
          session.prefill(TokenBatch.unpadded(new int[][] {prompt}));
        }
      }

      @Override
      public void step() {
        session.step(new int[] {token});
        token = (token * 31 + 7) % vocab;
      }

      @Override
      public void close() {
        if (session != null) {
          session.close();
        }
      }
    };
  }

  /** The fp32 GEMM rate with one single-threaded BLAS call per thread (the route the model uses): the median of 8 timings. */
  static double gemmPeak(int threads) throws Exception {
    return perThreadGemm(threads, 8, 1)[0];
  }

  /**
   * Timings of {@code threads} single-threaded 1024^3 products at once, one per thread (the route the
   * model uses), {@code reps} products per thread in each of {@code timings} timings after two untimed
   * ones: the median and the best rate, in GFLOP/s.
   */
  private static double[] perThreadGemm(int threads, int timings, int reps) throws Exception {
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
      double[] rates = new double[timings];
      for (int rep = -2; rep < timings; rep++) {
        long t0 = System.nanoTime();
        List<Future<?>> fs = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
          final int k = i;
          fs.add(pool.submit(() -> {
            for (int r = 0; r < reps; r++) {
              Blas.gemm(Tensor.of(a[k]), Tensor.of(b[k]), Tensor.of(c[k]), false, false);
            }
          }));
        }
        for (Future<?> f : fs) {
          f.get();
        }
        if (rep >= 0) {
          rates[rep] = threads * reps * 2.0 * n * n * n / ((System.nanoTime() - t0) / 1e9) / 1e9;
        }
      }
      return new double[] {median(rates), Arrays.stream(rates).max().orElseThrow()};
    } finally {
      pool.shutdown();
      for (int i = 0; i < threads; i++) {
        a[i].close();
        b[i].close();
        c[i].close();
      }
    }
  }

  /**
   * The fp32 GEMM rates behind "the machine's best measured GEMM rate", best and median of 15 timings
   * per route: one single-threaded product per thread at once (1024^3, 4 per thread per timing; the
   * route the model uses), and one product on the BLAS's own {@code threads} threads (1024^3, 10 per
   * timing; 2048^3, 2 per timing; NaN where the BLAS's thread count cannot be set).
   */
  record GemmRates(double perThreadBest, double perThreadMedian, double blas1024Best, double blas1024Median, double blas2048Best, double blas2048Median) {
    /** The highest of the routes' best timings. */
    double best() {
      double b = perThreadBest;
      for (double x : new double[] {blas1024Best, blas2048Best}) {
        if (!Double.isNaN(x)) {
          b = Math.max(b, x);
        }
      }
      return b;
    }
  }

  static GemmRates bestGemm(int threads) throws Exception {
    double[] perThread = perThreadGemm(threads, 15, 4);
    double[][] blas = {{Double.NaN, Double.NaN}, {Double.NaN, Double.NaN}};
    int[] sizes = {1024, 2048};
    int[] reps = {10, 2};
    for (int s = 0; s < sizes.length; s++) {
      int n = sizes[s];
      int k = s;
      try (INDArray a = Nd4j.rand(DataType.FLOAT, n, n);
          INDArray b = Nd4j.rand(DataType.FLOAT, n, n);
          INDArray c = Nd4j.create(DataType.FLOAT, n, n)) {
        Tensor ta = Tensor.of(a);
        Tensor tb = Tensor.of(b);
        Tensor tc = Tensor.of(c);
        CpuBackend.withBlasThreads(threads, () -> {
          double[] rates = new double[15];
          for (int rep = -3; rep < rates.length; rep++) {
            long t0 = System.nanoTime();
            for (int r = 0; r < reps[k]; r++) {
              Blas.gemm(ta, tb, tc, false, false);
            }
            if (rep >= 0) {
              rates[rep] = reps[k] * 2.0 * n * n * n / ((System.nanoTime() - t0) / 1e9) / 1e9;
            }
          }
          blas[k] = new double[] {median(rates), Arrays.stream(rates).max().orElseThrow()};
        });
      }
    }
    return new GemmRates(perThread[1], perThread[0], blas[0][1], blas[0][0], blas[1][1], blas[1][0]);
  }

  /**
   * Model FLOPs of one training step, as PaLM's appendix counts them: per token, 6 per weight of the
   * matrix products (2 forward, 4 backward; the tied LM head included) plus 12 {@code L T d} for
   * attention's two products ({@code q k^T} and {@code P v}, 2 {@code T d} FLOPs each per token and
   * layer forward, three times that with the backward), over all {@code T} positions as if no mask
   * skipped any.
   */
  static double trainFlops(GptConfig c, int batch, int t) {
    long d = c.dModel();
    double weights = 12.0 * d * d * c.layers() + (double) c.vocabSize() * d; // per block 3d^2 + d^2 + 4d^2 + 4d^2; LM head
    double attentionForward = 2 * 2.0 * t * d * c.layers(); // FLOPs per token, not weights: not doubled again
    return (6 * weights + 3 * attentionForward) * batch * t;
  }

  /** Times training steps of {@code c}; adds the step's time and throughput to {@code out}, returns its GFLOP/s. */
  private static double train(List<Figure> out, String name, GptConfig c, int batch, int threads, int steps) {
    int t = c.contextLength();
    try (GptModel m = GptModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, threads));
        AdamW opt = new AdamW(AdamWConfig.builder().learningRate(1e-4).build(), m)) {
      double sec = medianSeconds(trainingStep(m, opt, batch), steps);
      out.add(new Figure(name + ": training step (fwd+bwd+AdamW), batch " + batch + " x " + t, sec * 1e3, "ms"));
      out.add(new Figure(name + ": training throughput", batch * t / sec, "tokens/s"));
      double rate = trainFlops(c, batch, t) / sec / 1e9;
      out.add(new Figure(name + ": training step, model GFLOP/s", rate, "GFLOP/s"));
      return rate;
    }
  }

  private static double sampling(GptConfig c, int threads) {
    try (GptModel m = GptModel.randomInit(c, 2, new ModelOptions(DataType.FLOAT, threads))) {
      return samplingMsPerTokenStep(m);
    }
  }

  /**
   * KV-cached sampling of 16 prompts of 8 tokens, 64 new tokens each: the median ms per token-step of
   * 7 calls, after the warm-up of the training figures ({@link #warmUp}: until the JIT has compiled
   * the decode step, as in a long run's rollouts; three calls were not enough when sampling ran first,
   * its figure then depending on what the JVM had run before it).
   */
  static double samplingMsPerTokenStep(CausalLm m) {
    List<int[]> prompts = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      prompts.add(new int[] {1, 2 + i, 3, 4, 5, 6, 7, 8});
    }
    SamplingConfig cfg = SamplingConfig.builder().maxNewTokens(64).build();
    warmUp(() -> Generator.generate(m, prompts, cfg, -1, 0));
    double[] times = new double[7];
    for (int rep = 0; rep < times.length; rep++) {
      long t0 = System.nanoTime();
      Generator.generate(m, prompts, cfg, rep, 0);
      times[rep] = (System.nanoTime() - t0) / 1e6 / 64;
    }
    return median(times);
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

  /**
   * Memory soak: {@code steps} PPO steps on the {@code tiny} preset's shapes (d 32, 2 heads, 2 layers,
   * context 64; 8 prompts, minibatches of 4, 24 new tokens), printing every 100 steps the resident set
   * size, ND4J's off-heap bytes ({@link Pointer#totalBytes()}; {@link Pointer#physicalBytes()} is the
   * process's physical memory as JavaCPP sees it) and the Java heap in use. No GC is forced.
   */
  static void soak(int steps, int threads) {
    ByteTokenizer tok = ByteTokenizer.create();
    Preset p = Preset.TINY;
    GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(p.dModel).heads(p.heads).layers(p.layers).contextLength(p.context).build();
    System.out.printf(Locale.ROOT, "%6s %10s %14s %14s %10s %9s%n", "step", "RSS MiB", "off-heap MiB", "physical MiB", "heap MiB", "s/100");
    try (GptModel ref = GptModel.randomInit(cfg, 3, new ModelOptions(DataType.FLOAT, threads))) {
      PpoConfig pc = PpoConfig.builder().rolloutBatchSize(p.ppoBatch).miniBatchSize(p.ppoMiniBatch).maxNewTokens(p.responseLength).seed(1).build();
      List<String> prompts = List.of("The film", "A story of", "Nothing about", "It is", "One of the", "An", "This", "If you");
      try (PpoTrainer trainer = PpoTrainer.builder(pc).policy(ref.withNewScalarHead(4)).reference(ref).rewardModel(new EmbeddingExample.CountLowercase())
          .tokenizer(tok).prompts(prompts).build()) {
        long t0 = System.nanoTime();
        for (int done = 0; done < steps; ) {
          int n = Math.min(100, steps - done);
          trainer.train(n);
          done += n;
          Runtime rt = Runtime.getRuntime();
          System.out.printf(
              Locale.ROOT,
              "%6d %10.1f %14.1f %14.1f %10.1f %9.1f%n",
              done,
              rssBytes() / 1048576.0,
              Pointer.totalBytes() / 1048576.0,
              Pointer.physicalBytes() / 1048576.0,
              (rt.totalMemory() - rt.freeMemory()) / 1048576.0,
              (System.nanoTime() - t0) / 1e9);
          t0 = System.nanoTime();
        }
      }
    }
  }

  /** VmRSS from {@code /proc/self/status}, in bytes ({@code -1} if unavailable). */
  static long rssBytes() {
    try {
      for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (java.io.IOException e) {
      // not Linux
    }
    return -1;
  }

  private static double median(double[] xs) {
    double[] s = xs.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
