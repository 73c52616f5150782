package org.rlhf4j.examples;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.data.SharedData;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.hf.PretrainedModels;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.GptConfig;
import org.rlhf4j.core.model.GptModel;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftResult;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.JsonlMetricsWriter;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.ProgressBarListener;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;
import org.rlhf4j.reward.RewardConfig;
import org.rlhf4j.reward.RewardResult;
import org.rlhf4j.reward.RewardTrainer;
import org.rlhf4j.reward.TransformerRewardModel;

/**
 * The whole InstructGPT recipe on real human judgements, on a laptop-sized model: pre-train on
 * tinyshakespeare (or load {@code --model DIR}), fine-tune on human-written review sentences, train a
 * reward model on comparisons of human-rated reviews, optimise the policy with PPO against it with a
 * KL penalty to the SFT model, and compare SFT and PPO samples on held-out prompts.
 *
 * <p>{@code --preset tiny|small} (default small), {@code --seed N}, {@code --out DIR} (default {@code
 * rlhf-output/quickstart}), {@code --model DIR}, {@code --threads N}, {@code --quiet}. Writes {@code
 * metrics.jsonl}, {@code samples-sft.jsonl}, {@code samples-ppo.jsonl}, PNG plots and each stage's
 * checkpoint under the output directory.
 */
public final class QuickStart {

  /** The command-line options. */
  public record Options(long seed, Path out, Preset preset, Path modelDir, int threads, boolean quiet) {
    /** The defaults: seed 42, ./rlhf-output/quickstart, SMALL, all processors. */
    public static Options defaults() {
      return new Options(42, Path.of("rlhf-output", "quickstart"), Preset.SMALL, null, Runtime.getRuntime().availableProcessors(), false);
    }

    /** Parses {@code --seed --out --preset --model --threads --quiet}. */
    public static Options parse(String[] args) {
      Options o = defaults();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        if (a.equals("--quiet")) {
          o = new Options(o.seed, o.out, o.preset, o.modelDir, o.threads, true);
          continue;
        }
        if (i + 1 >= args.length) {
          throw new IllegalArgumentException("option " + a + " needs a value");
        }
        String v = args[++i];
        switch (a) {
          case "--seed" -> o = new Options(Long.parseLong(v), o.out, o.preset, o.modelDir, o.threads, o.quiet);
          case "--out" -> o = new Options(o.seed, Path.of(v), o.preset, o.modelDir, o.threads, o.quiet);
          case "--preset" -> o = new Options(o.seed, o.out, Preset.valueOf(v.toUpperCase(Locale.ROOT)), o.modelDir, o.threads, o.quiet);
          case "--model" -> o = new Options(o.seed, o.out, o.preset, Path.of(v), o.threads, o.quiet);
          case "--threads" -> o = new Options(o.seed, o.out, o.preset, o.modelDir, Integer.parseInt(v), o.quiet);
          default -> throw new IllegalArgumentException("unknown option " + a + " (known: --preset tiny|small, --seed N, --out DIR, --model DIR, --threads N, --quiet)");
        }
      }
      return o;
    }
  }

  /** The headline numbers of a run. */
  public record Result(
      double pretrainPerplexity,
      double sftPerplexity,
      double rewardAccuracy,
      double sftScore,
      double ppoScore,
      double sftKl,
      double ppoKl,
      double firstPpoScore,
      double lastPpoScore,
      double seconds,
      Map<String, Double> stageSeconds,
      Path out) {}

  private QuickStart() {}

  /** Runs the program from the command line (see the class documentation for its options). */
  public static void main(String[] args) throws IOException {
    Options o;
    try {
      o = Options.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    Nd4j.getEnvironment().setMaxMasterThreads(1);
    Result r = run(o);
    System.out.printf(Locale.ROOT, "%nRLHF quick-start (%s preset, seed %d, %d threads) finished in %.0f s; outputs in %s%n", o.preset(), o.seed(), o.threads(), r.seconds(), r.out());
    System.out.printf(Locale.ROOT, "  stage seconds: %s%n", r.stageSeconds());
    if (Double.isNaN(r.pretrainPerplexity())) {
      System.out.printf(Locale.ROOT, "  pre-training: skipped (started from %s)%n", o.modelDir());
    } else {
      System.out.printf(Locale.ROOT, "  pre-training: held-out perplexity %.2f%n", r.pretrainPerplexity());
    }
    System.out.printf(Locale.ROOT, "  SFT:          held-out perplexity on review completions %.2f%n", r.sftPerplexity());
    System.out.printf(Locale.ROOT, "  reward model: held-out pairwise accuracy %.3f%n", r.rewardAccuracy());
    System.out.printf(Locale.ROOT, "  PPO:          training score %.2f -> %.2f%n", r.firstPpoScore(), r.lastPpoScore());
    System.out.printf(Locale.ROOT, "  held-out prompts: mean reward SFT %.2f -> PPO %.2f, KL(PPO||SFT) %.2f nats%n", r.sftScore(), r.ppoScore(), r.ppoKl());
  }

  /** Runs every stage and returns the headline numbers. */
  public static Result run(Options o) throws IOException {
    long start = System.nanoTime();
    Preset p = o.preset();
    Path reviews = SharedData.require("sentiment/movie-review-snippets.tsv");
    Files.createDirectories(o.out());
    Files.deleteIfExists(o.out().resolve("metrics.jsonl"));
    MetricsRecorder recorder = new MetricsRecorder();
    Map<String, Double> stageSeconds = new LinkedHashMap<>();
    long mark = System.nanoTime();
    try (JsonlMetricsWriter metrics = new JsonlMetricsWriter(o.out().resolve("metrics.jsonl"))) {
      List<TrainingListener> ls = new ArrayList<>(List.of(recorder, metrics));
      if (!o.quiet()) {
        ls.add(new ProgressBarListener(List.of("loss", "accuracy", "objective/scores", "objective/kl", "eval/perplexity")));
      }
      TrainingListener listener = Listeners.of(ls);
      ModelOptions mo = new ModelOptions(DataType.FLOAT, o.threads());
      Path ckpt = o.out().resolve("checkpoints");

      // 1. Base model: pre-train a small GPT on tinyshakespeare (or load one).
      Tokenizer tok;
      GptModel base;
      double pretrainPpl = Double.NaN;
      if (o.modelDir() != null) {
        PretrainedModels.Pretrained l = PretrainedModels.load(o.modelDir(), mo);
        base = l.model();
        tok = l.tokenizer();
      } else {
        tok = ByteTokenizer.create();
        String corpus = Files.readString(SharedData.require("corpus/tinyshakespeare.txt"), StandardCharsets.UTF_8);
        int[] tokens = tok.encode(corpus);
        int cut = tokens.length * 19 / 20;
        SftData train = SftData.fromCorpus(Arrays.copyOf(tokens, cut), p.context);
        SftData heldOut = SftData.fromCorpus(Arrays.copyOfRange(tokens, cut, tokens.length), p.context).head(64);
        GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(p.dModel).heads(p.heads).layers(p.layers).contextLength(p.context).build();
        base = GptModel.randomInit(cfg, o.seed(), mo);
        SftConfig pre = SftConfig.builder().learningRate(2e-3).schedule(SftConfig.Schedule.COSINE).warmupSteps(p.pretrainSteps / 20).maxSteps(p.pretrainSteps).batchSize(16).seed(o.seed()).build();
        SftResult r = new SftTrainer(pre).train(base, train, heldOut, stage("pretrain", listener));
        pretrainPpl = r.finalEval().get().perplexity();
        ModelCheckpoint.save(ckpt.resolve("pretrain"), base, Provenance.of("pretrain", o.seed(), pre.toMap(), null), Map.of(), tok);
      }
      mark = lap(stageSeconds, "pretrain", mark);
      int context = base.config().contextLength();
      ReviewData data = ReviewData.load(reviews, context - 2, p.rewardSteps * 16, o.seed());

      // 2. SFT on human-written review completions.
      GptModel sft = base.copy(mo);
      SftConfig sftCfg = SftConfig.builder().learningRate(1e-3).schedule(SftConfig.Schedule.COSINE).warmupSteps(p.sftSteps / 20).maxSteps(p.sftSteps).batchSize(16).maxLength(context).seed(o.seed()).build();
      SftData demos = SftData.fromExamples(data.demonstrations, tok, context, true, true);
      SftData heldOutDemos = SftData.fromExamples(data.heldOutDemonstrations, tok, context, true, true).head(128);
      SftResult sftResult = new SftTrainer(sftCfg).train(sft, demos, heldOutDemos, stage("sft", listener));
      ModelCheckpoint.save(ckpt.resolve("sft"), sft, Provenance.of("sft", o.seed(), sftCfg.toMap(), "pretrain"), Map.of(), tok);
      mark = lap(stageSeconds, "sft", mark);

      // 3. Reward model on human comparisons, initialised from the SFT model.
      TransformerRewardModel rm = TransformerRewardModel.fromPolicy(sft, o.seed() + 1);
      RewardConfig rmCfg = RewardConfig.builder().learningRate(3e-4).warmupSteps(p.rewardSteps / 20).epochs(1).promptsPerBatch(16).maxLength(context)
          .evalEvery(Math.max(1, p.rewardSteps / 5)).seed(o.seed()).build();
      RewardResult rmResult = new RewardTrainer(rmCfg).train(rm, tok, data.trainComparisons, data.heldOutComparisons, stage("reward", listener));
      SamplingConfig sampling = SamplingConfig.builder().temperature(1.0).maxNewTokens(p.responseLength).stopTokens(tok.eosId()).build();
      List<Samples.Sample> reference = Samples.sampleAndScore(sft, sft, rm, tok, data.ppoPrompts.subList(0, Math.min(64, data.ppoPrompts.size())), sampling, o.seed() + 2, 32);
      normalize(rm, reference);
      rm.save(ckpt.resolve("reward"), Provenance.of("reward", o.seed(), rmCfg.toMap(), "sft"), tok);
      mark = lap(stageSeconds, "reward", mark);

      // 4. PPO against the reward model, with a KL penalty to the frozen SFT model.
      PpoConfig ppoCfg = PpoConfig.builder().learningRate(5e-5).rolloutBatchSize(p.ppoBatch).miniBatchSize(p.ppoMiniBatch).ppoEpochs(4)
          .maxNewTokens(p.responseLength).temperature(1.0).klCoef(0.1).missingEosPenalty(1.0).seed(o.seed()).build();
      PpoTrainer ppo = PpoTrainer.builder(ppoCfg).policy(sft.withNewScalarHead(o.seed() + 3)).reference(sft).rewardModel(rm)
          .tokenizer(tok).prompts(data.ppoPrompts).listener(stage("ppo", listener)).build();
      List<PpoStats> ppoStats = ppo.train(p.ppoSteps);
      ModelCheckpoint.save(ckpt.resolve("ppo"), ppo.policy(), Provenance.of("ppo", o.seed(), ppoCfg.toMap(), "sft"), Map.of(), tok);
      mark = lap(stageSeconds, "ppo", mark);

      // 5. Evaluate on held-out prompts: SFT and PPO samples, scored by the reward model.
      List<String> evalPrompts = data.evalPrompts.subList(0, Math.min(p.evalPrompts, data.evalPrompts.size()));
      List<Samples.Sample> sftSamples = Samples.sampleAndScore(sft, sft, rm, tok, evalPrompts, sampling, o.seed() + 4, 32);
      List<Samples.Sample> ppoSamples = Samples.sampleAndScore(ppo.policy(), sft, rm, tok, evalPrompts, sampling, o.seed() + 4, 32);
      Samples.write(o.out().resolve("samples-sft.jsonl"), sftSamples);
      Samples.write(o.out().resolve("samples-ppo.jsonl"), ppoSamples);
      List<Metrics> rmCurve = new ArrayList<>(Plots.movingAverage(recorder.steps(RewardTrainer.PHASE), List.of("loss", "accuracy"), 20));
      rmCurve.addAll(recorder.evaluations(RewardTrainer.PHASE));
      Plots.lines(o.out().resolve("reward-model.png"), "Reward model: training loss and accuracy (moving average of 20 steps), held-out accuracy", rmCurve,
          List.of("loss (avg 20)", "accuracy (avg 20)", "eval/accuracy"));
      Plots.lines(o.out().resolve("ppo.png"), "PPO: reward-model score and KL to the SFT model", recorder.steps(PpoTrainer.PHASE), List.of("objective/scores", "objective/kl"));
      Plots.lines(o.out().resolve("language-model.png"), "Pre-training and SFT loss", merge(recorder, "pretrain", "sft"), List.of("pretrain/loss", "sft/loss"));
      printSideBySide(sftSamples, ppoSamples, 5);
      lap(stageSeconds, "evaluation", mark);
      int n = ppoStats.size();
      int k = Math.max(1, n / 5);
      double first = ppoStats.subList(0, k).stream().mapToDouble(PpoStats::meanScore).average().orElse(Double.NaN);
      double last = ppoStats.subList(n - k, n).stream().mapToDouble(PpoStats::meanScore).average().orElse(Double.NaN);
      return new Result(
          pretrainPpl,
          sftResult.finalEval().get().perplexity(),
          rmResult.finalEval().get().accuracy(),
          Samples.meanScore(sftSamples),
          Samples.meanScore(ppoSamples),
          Samples.meanKl(sftSamples),
          Samples.meanKl(ppoSamples),
          first,
          last,
          (System.nanoTime() - start) / 1e9,
          Collections.unmodifiableMap(stageSeconds),
          o.out());
    }
  }

  private static long lap(Map<String, Double> sink, String stage, long since) {
    long now = System.nanoTime();
    sink.put(stage, Math.round((now - since) / 1e8) / 10.0);
    return now;
  }

  /** Listener wrapper that renames the phase (pre-training and SFT both use the SFT trainer). */
  private static TrainingListener stage(String name, TrainingListener inner) {
    return new TrainingListener() {
      @Override
      public void onStart(String phase, long totalSteps) {
        inner.onStart(name, totalSteps);
      }

      @Override
      public void onStep(Metrics m) {
        inner.onStep(new Metrics(name, m.step(), m.values()));
      }

      @Override
      public void onEvaluation(Metrics m) {
        inner.onEvaluation(new Metrics(name, m.step(), m.values()));
      }

      @Override
      public void onEnd(Metrics m) {
        inner.onEnd(new Metrics(name, m.step(), m.values()));
      }
    };
  }

  private static List<Metrics> merge(MetricsRecorder r, String a, String b) {
    List<Metrics> out = new ArrayList<>();
    for (String phase : List.of(a, b)) {
      long offset = phase.equals(b) ? r.steps(a).size() : 0;
      for (Metrics m : r.steps(phase)) {
        out.add(Metrics.of(phase, m.step() + offset, Map.of(phase + "/loss", m.value("loss"))));
      }
    }
    return out;
  }

  /**
   * Sets the reward model's normalisation so that SFT samples for training prompts score mean 0 and
   * standard deviation 1 (the samples were scored before any normalisation, so their scores are raw).
   */
  private static void normalize(TransformerRewardModel rm, List<Samples.Sample> sftSamples) {
    double mean = Samples.meanScore(sftSamples);
    double var = sftSamples.stream().mapToDouble(s -> (s.score() - mean) * (s.score() - mean)).sum() / Math.max(1, sftSamples.size() - 1);
    double std = Math.sqrt(var);
    rm.setNormalization(1.0 / std, -mean / std);
  }

  private static void printSideBySide(List<Samples.Sample> sft, List<Samples.Sample> ppo, int n) {
    System.out.println();
    System.out.println("Held-out prompts, SFT vs PPO samples (reward-model score in brackets):");
    for (int i = 0; i < Math.min(n, sft.size()); i++) {
      System.out.printf(Locale.ROOT, "  prompt: %s%n    SFT [%+.2f]:%s%n    PPO [%+.2f]:%s%n", sft.get(i).prompt(), sft.get(i).score(), oneLine(sft.get(i).response()), ppo.get(i).score(), oneLine(ppo.get(i).response()));
    }
  }

  private static String oneLine(String s) {
    return s.replace('\n', ' ');
  }
}
