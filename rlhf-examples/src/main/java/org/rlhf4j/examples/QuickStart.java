package org.rlhf4j.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.common.base.Preconditions;
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
import java.util.Optional;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.data.SftExample;
import org.rlhf4j.core.data.SharedData;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.hf.PretrainedModels;
import org.rlhf4j.core.io.AtomicFiles;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftResult;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tokenizer.BpeTrainer;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;
import org.rlhf4j.core.train.JsonlMetricsWriter;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.ProgressBarListener;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.ppo.KlController;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;
import org.rlhf4j.ppo.PromptPool;
import org.rlhf4j.reward.RewardConfig;
import org.rlhf4j.reward.RewardModel;
import org.rlhf4j.reward.RewardResult;
import org.rlhf4j.reward.RewardTrainer;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.eval.WinRate;
import org.rlhf4j.reward.sampling.BestOfNSampler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The whole InstructGPT recipe on real human judgements, on a laptop-sized model: train a byte-level
 * BPE tokenizer and pre-train a GPT on all the English text that is not held out (or load {@code
 * --model DIR}), fine-tune on human-written review sentences, train a proxy and a larger gold reward
 * model on disjoint halves of the comparisons of human-rated reviews, optimise the policy with PPO
 * against the proxy with an adaptive KL penalty to the SFT model (following proxy and gold scores on
 * held-out prompts and keeping the best checkpoint by gold score), and compare SFT, best-of-n and PPO
 * samples on other held-out prompts, with win rates judged by the gold model.
 *
 * <p>{@code --preset tiny|small} (default small), {@code --seed N}, {@code --out DIR} (default {@code
 * rlhf-output/quickstart}), {@code --model DIR}, {@code --threads N}, {@code --reuse DIR} (the stage
 * cache: the tokenizer, SFT and reward models of the finished run in DIR, see {@link StageCache}),
 * {@code --quiet}. {@link QuickStartSeeds} runs several seeds and reports mean ± spread. Writes {@code
 * summary.txt}, {@code summary.json}, {@code win-rates.json}, {@code metrics.jsonl}, {@code
 * samples-sft.jsonl}, {@code samples-ppo.jsonl}, {@code samples-best-of-16.jsonl}, {@code
 * tokenizer.json}, PNG plots (among them {@code overoptimisation.png}) and each stage's checkpoint
 * under the output directory. Tuning knobs for experiments are read from system properties {@code
 * rlhf4j.quickstart.*} (see {@link #knob}); the defaults are what the README reports.
 */
public final class QuickStart {
  private static final Logger LOG = LoggerFactory.getLogger(QuickStart.class);


  /**
   * The command-line options; {@code modelDir} and {@code reuse} may be null (not given). {@code
   * reuse} is a finished run's output directory whose tokenizer, SFT model and reward models are
   * reused (the stage cache, see {@link StageCache}).
   */
  public record Options(long seed, Path out, Preset preset, Path modelDir, int threads, boolean quiet, Path reuse) {
    /** Options without a stage cache. */
    public Options(long seed, Path out, Preset preset, Path modelDir, int threads, boolean quiet) {
      this(seed, out, preset, modelDir, threads, quiet, null);
    }

    /** The defaults: seed 42, ./rlhf-output/quickstart, SMALL, all processors. */
    public static Options defaults() {
      return new Options(42, Path.of("rlhf-output", "quickstart"), Preset.SMALL, null, Runtime.getRuntime().availableProcessors(), false, null);
    }

    /** These options with another seed. */
    public Options withSeed(long s) {
      return new Options(s, out, preset, modelDir, threads, quiet, reuse);
    }

    /** These options with another output directory. */
    public Options withOut(Path dir) {
      return new Options(seed, dir, preset, modelDir, threads, quiet, reuse);
    }

    /** These options reusing the tokenizer, SFT and reward models of the finished run in {@code dir}. */
    public Options withReuse(Path dir) {
      return new Options(seed, out, preset, modelDir, threads, quiet, dir);
    }

    /** Parses {@code --seed --out --preset --model --threads --reuse --quiet}. */
    public static Options parse(String[] args) {
      Options o = defaults();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        if (a.equals("--quiet")) {
          o = new Options(o.seed, o.out, o.preset, o.modelDir, o.threads, true, o.reuse);
          continue;
        }
        if (i + 1 >= args.length) {
          throw new IllegalArgumentException("option " + a + " needs a value");
        }
        String v = args[++i];
        switch (a) {
          case "--seed" -> o = o.withSeed(parseLong(a, v));
          case "--out" -> o = o.withOut(Path.of(v));
          case "--preset" -> o = new Options(o.seed, o.out, parsePreset(v), o.modelDir, o.threads, o.quiet, o.reuse);
          case "--model" -> o = new Options(o.seed, o.out, o.preset, Path.of(v), o.threads, o.quiet, o.reuse);
          case "--threads" -> o = new Options(o.seed, o.out, o.preset, o.modelDir, (int) parseLong(a, v), o.quiet, o.reuse);
          case "--reuse" -> o = o.withReuse(Path.of(v));
          default -> throw new IllegalArgumentException("unknown option " + a + " (known: " + USAGE + ")");
        }
      }
      if (o.modelDir != null && o.reuse != null) {
        throw new IllegalArgumentException("--model and --reuse exclude each other (--reuse starts from the cached run's SFT model)");
      }
      if (o.threads < 1) {
        throw new IllegalArgumentException("--threads must be at least 1, got " + o.threads);
      }
      return o;
    }

    static long parseLong(String option, String v) {
      try {
        return Long.parseLong(v);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("option " + option + " needs a whole number, got " + v);
      }
    }

    static Preset parsePreset(String v) {
      try {
        return Preset.valueOf(v.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--preset must be tiny or small, got " + v);
      }
    }
  }

  /** The options {@link Options#parse} knows. */
  static final String USAGE = "--preset tiny|small, --seed N, --out DIR, --model DIR, --threads N, --reuse DIR, --quiet";

  /** A point of the over-optimisation curve: proxy and gold mean scores at a KL (nats). */
  public record CurvePoint(String policy, long stepOrN, double kl, double proxy, double gold) {}

  /**
   * The headline numbers of a run; {@code dataSeed} is the seed of the data split (the run's own
   * seed, or with {@code --reuse} the cached run's).
   */
  public record Result(
      double pretrainPerplexity,
      double sftPerplexity,
      double rewardAccuracy,
      double goldAccuracy,
      double sftScore,
      double ppoScore,
      double sftGold,
      double ppoGold,
      double sftGoldStd,
      double ppoKl,
      long bestStep,
      double finalPpoGold,
      double finalPpoKl,
      double bestOf16Score,
      double bestOf16Gold,
      List<CurvePoint> ppoCurve,
      List<CurvePoint> bestOfN,
      WinRate ppoVsSft,
      WinRate ppoVsBestOf16,
      double knownWordFraction,
      double firstPpoScore,
      double lastPpoScore,
      double seconds,
      Map<String, Double> stageSeconds,
      Path out,
      long dataSeed) {
    /** Gold score gain of PPO over SFT in SFT-sample standard deviations of the gold model. */
    public double goldGainInStd() {
      return (ppoGold - sftGold) / sftGoldStd;
    }
  }

  private QuickStart() {}

  /** Runs the program from the command line (see the class documentation for its options). */
  public static void main(String[] args) throws IOException {
    CpuBackend.configure(); // first, before anything loads ND4J: chooses the BLAS (MKL on Intel CPUs) and its kernels
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
    System.out.println();
    System.out.print(summary(o, r));
  }

  /** The end-of-run summary printed by {@link #main}. */
  static String summary(Options o, Result r) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "RLHF quick-start (%s preset, seed %d, %d threads) finished in %.0f s; outputs in %s%n", o.preset(), o.seed(), o.threads(), r.seconds(), r.out()));
    sb.append(String.format(Locale.ROOT, "  stage seconds: %s%n", r.stageSeconds()));
    if (o.reuse() != null) {
      boolean rewards = System.getProperty("rlhf4j.quickstart.reuseStages", "reward").equals("reward");
      sb.append(String.format(Locale.ROOT, "  tokenizer, pre-training, SFT%s reused from %s (its numbers below)%n", rewards ? " and reward models" : "", o.reuse()));
    }
    if (Double.isNaN(r.pretrainPerplexity())) {
      sb.append(String.format(Locale.ROOT, "  pre-training: skipped (started from %s)%n", o.modelDir()));
    } else {
      sb.append(String.format(Locale.ROOT, "  pre-training: held-out perplexity on review sentences %.2f%n", r.pretrainPerplexity()));
    }
    sb.append(String.format(Locale.ROOT, "  SFT:          held-out perplexity on review completions %.2f%n", r.sftPerplexity()));
    sb.append(String.format(Locale.ROOT, "  reward models: held-out pairwise accuracy proxy %.3f, gold %.3f%n", r.rewardAccuracy(), r.goldAccuracy()));
    sb.append(String.format(Locale.ROOT, "  PPO:          training score %.2f -> %.2f; best gold at step %d%n", r.firstPpoScore(), r.lastPpoScore(), r.bestStep()));
    sb.append(String.format(Locale.ROOT, "  held-out prompts (proxy / gold, in SFT-sample standard deviations):%n"));
    sb.append(String.format(Locale.ROOT, "    SFT          %+.2f / %+.2f%n", r.sftScore(), r.sftGold()));
    sb.append(String.format(Locale.ROOT, "    best-of-16   %+.2f / %+.2f   KL %.2f (analytic)%n", r.bestOf16Score(), r.bestOf16Gold(), BestOfNSampler.analyticKl(16)));
    sb.append(String.format(Locale.ROOT, "    PPO (best)   %+.2f / %+.2f   KL %.2f nats; gold gain %+.2f SFT std%n", r.ppoScore(), r.ppoGold(), r.ppoKl(), r.goldGainInStd()));
    sb.append(String.format(Locale.ROOT, "    PPO (final)  gold %+.2f   KL %.2f nats%n", r.finalPpoGold(), r.finalPpoKl()));
    sb.append(String.format(Locale.ROOT, "  win rates judged by the gold model (95 %% Wilson interval):%n"));
    for (WinRate w : List.of(r.ppoVsSft(), r.ppoVsBestOf16())) {
      sb.append(String.format(Locale.ROOT, "    %-4s vs %-10s %5.1f %%  [%5.1f, %5.1f]  (%d wins, %d losses, %d ties)%n", w.nameA(), w.nameB(), 100 * w.rate(), 100 * w.low(), 100 * w.high(), w.wins(), w.losses(), w.ties()));
    }
    sb.append(String.format(Locale.ROOT, "  words of PPO samples found in the training text: %.1f %%%n", 100 * r.knownWordFraction()));
    return sb.toString();
  }

  /** Runs every stage and returns the headline numbers. */
  public static Result run(Options o) throws IOException {
    long start = System.nanoTime();
    Preset p = o.preset();
    Path reviews = SharedData.require("sentiment/movie-review-snippets.tsv");
    String reuseStages = System.getProperty("rlhf4j.quickstart.reuseStages", "reward");
    Preconditions.checkArgument(reuseStages.equals("reward") || reuseStages.equals("sft"), "rlhf4j.quickstart.reuseStages must be reward or sft, got %s", reuseStages);
    // Read before the output directory is written to (it may be the cached run's directory).
    StageCache cache = o.reuse() == null ? null : StageCache.open(o.reuse(), p, reuseStages.equals("reward"));
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
      // With a stage cache, the data are split as in the cached run, so that its reward models never score their training sentences.
      long dataSeed = cache == null ? o.seed() : cache.dataSeed;
      ReviewData data = ReviewData.load(reviews, knob("maxChars", p.maxChars), knob("proxySteps", p.proxySteps) * 16, knob("goldSteps", p.goldSteps) * 16,
          knob("evalPrompts", p.evalPrompts), knob("trackPrompts", p.trackPrompts), dataSeed);
      List<String> corpus = trainingText(data);
      int maxNew;
      double temperature = knobD("temperature", TEMPERATURE);
      SamplingConfig sampling;
      Tokenizer tok;
      GptModel sft;
      TransformerRewardModel proxy;
      TransformerRewardModel gold;
      double pretrainPpl = Double.NaN;
      double sftPpl;
      double proxyAccuracy;
      double goldAccuracy;
      GptModel base = null;
      proxy = null;
      gold = null;
      proxyAccuracy = Double.NaN;
      goldAccuracy = Double.NaN;
      if (cache != null) {
        // From the stage cache: the cached run's tokenizer, pre-trained and SFT models, and (unless only
        // the stages up to SFT are reused) its normalised reward models.
        cache.replay(Listeners.of(recorder, metrics));
        cache.copyTo(o.out());
        tok = cache.tokenizer();
        sft = cache.sft(mo);
        pretrainPpl = cache.pretrainPerplexity;
        sftPpl = cache.sftPerplexity;
        if (cache.includesRewardModels()) {
          proxy = cache.rewardModel("reward", mo);
          gold = cache.rewardModel("gold-reward", mo);
          proxyAccuracy = cache.proxyAccuracy;
          goldAccuracy = cache.goldAccuracy;
        } else {
          base = cache.pretrain(mo);
        }
        stageSeconds.put("cached stages", Math.round((System.nanoTime() - mark) / 1e8) / 10.0);
        mark = System.nanoTime();
      } else {
        // 1. Base model: a byte-level BPE tokenizer and a small GPT pre-trained on the training text (or load one).
        if (o.modelDir() != null) {
          PretrainedModels.Pretrained l = PretrainedModels.load(o.modelDir(), mo);
          base = l.model();
          tok = l.tokenizer();
        } else {
          Gpt2BpeTokenizer bpe = BpeTrainer.of(knob("vocab", p.vocab)).train(corpus);
          Tokenizers.writeTokenizerJson(bpe, o.out().resolve("tokenizer.json"));
          tok = bpe;
          int context = p.context;
          SftData train = SftData.fromCorpus(stream(tok, corpus), context);
          List<String> heldOutText = new ArrayList<>();
          for (SftExample e : data.heldOutDemonstrations) {
            heldOutText.add(e.prompt() + e.completion());
          }
          SftData heldOut = SftData.fromCorpus(stream(tok, heldOutText), context).head(64);
          GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(knob("dModel", p.dModel)).heads(knob("heads", p.heads)).layers(knob("layers", p.layers))
              .contextLength(context).build();
          base = GptModel.randomInit(cfg, o.seed(), mo);
          int steps = knob("pretrainSteps", p.pretrainSteps);
          SftConfig pre = SftConfig.builder().learningRate(knobD("pretrainLr", 2e-3)).schedule(SftConfig.Schedule.COSINE).warmupSteps(steps / 20).maxSteps(steps).batchSize(16).seed(o.seed()).build();
          SftResult r = SftTrainer.builder(pre).listener(stage("pretrain", listener)).build().train(base, train, heldOut);
          pretrainPpl = r.finalEval().get().perplexity();
          ModelCheckpoint.save(ckpt.resolve("pretrain"), base, Provenance.of("pretrain", o.seed(), pre.toMap(), null), Map.of(), tok);
        }
        mark = lap(stageSeconds, "pretrain", mark);
        int context = base.config().contextLength();

        // 2. SFT on human-written review completions.
        sft = base.copy(mo);
        int sftSteps = knob("sftSteps", p.sftSteps);
        SftConfig sftCfg = SftConfig.builder().learningRate(knobD("sftLr", 1e-3)).schedule(SftConfig.Schedule.COSINE).warmupSteps(sftSteps / 20).maxSteps(sftSteps).batchSize(16).maxLength(context).seed(o.seed()).build();
        SftData demos = SftData.fromExamples(data.demonstrations, tok, context, true, true);
        SftData heldOutDemos = SftData.fromExamples(data.heldOutDemonstrations, tok, context, true, true).head(128);
        SftResult sftResult = SftTrainer.builder(sftCfg).listener(stage("sft", listener)).build().train(sft, demos, heldOutDemos);
        sftPpl = sftResult.finalEval().get().perplexity();
        ModelCheckpoint.save(ckpt.resolve("sft"), sft, Provenance.of("sft", o.seed(), sftCfg.toMap(), "pretrain"), Map.of(), tok);
        mark = lap(stageSeconds, "sft", mark);

      }
      int context = sft.config().contextLength();
      maxNew = Math.min(p.responseLength, context - 8);
      sampling = SamplingConfig.builder().temperature(temperature).maxNewTokens(maxNew).stopTokens(tok.eosId()).build();
      if (proxy == null) {
        // 3. Two reward models on disjoint halves of the human comparisons: the proxy (optimised by PPO)
        //    and a larger gold model (the stand-in for human judgement, never seen by PPO).
        List<String> normPrompts = data.ppoPrompts.subList(0, Math.min(64, data.ppoPrompts.size()));
        TrainedReward proxyTrained = rewardModel("proxy", knob("proxyDModel", p.proxyDModel), knob("proxyLayers", p.proxyLayers), knobD("proxyLr", 1e-3), data.proxyComparisons,
            base, sft, tok, context, mo, o.seed() + 1, data, listener);
        proxy = proxyTrained.model();
        proxyAccuracy = proxyTrained.result().finalEval().get().accuracy();
        TrainedReward goldTrained = rewardModel("gold", knob("goldDModel", p.goldDModel), knob("goldLayers", p.goldLayers), knobD("goldLr", 3e-4), data.goldComparisons,
            base, sft, tok, context, mo, o.seed() + 11, data, listener);
        gold = goldTrained.model();
        goldAccuracy = goldTrained.result().finalEval().get().accuracy();
        List<Samples.Sample> reference = Samples.sampleAndScore(sft, sft, proxy, gold, tok, normPrompts, sampling, o.seed() + 2, 32);
        proxy.normalizeTo(reference.stream().mapToDouble(Samples.Sample::score).toArray());
        gold.normalizeTo(reference.stream().mapToDouble(Samples.Sample::gold).toArray());
        proxy.save(ckpt.resolve("reward"), Provenance.of("reward", o.seed(), Map.of("role", "proxy"), "sft"), tok);
        gold.save(ckpt.resolve("gold-reward"), Provenance.of("gold-reward", o.seed(), Map.of("role", "gold"), "sft"), tok);
        mark = lap(stageSeconds, "reward", mark);
      }

      // 4. PPO against the proxy, with an adaptive KL penalty to the frozen SFT model; every few steps
      //    proxy and gold scores of fixed held-out prompts are measured, and the best policy by gold kept.
      int ppoSteps = knob("ppoSteps", p.ppoSteps);
      int batch = knob("ppoBatch", p.ppoBatch);
      // Adaptive beta towards TARGET_KL that never falls below its initial value: early on the KL is
      // low because the policy has not moved yet, not because beta is too high, and an unbounded
      // controller winds beta down (0.1 -> 0.023 in 30 steps) so that the KL then overshoots the target.
      double targetKl = knobD("targetKl", TARGET_KL);
      double klCoef = knobD("klCoef", INIT_KL_COEF);
      PpoConfig.Builder pb = PpoConfig.builder().learningRate(knobD("ppoLr", 1e-4)).rolloutBatchSize(batch).miniBatchSize(knob("ppoMiniBatch", p.ppoMiniBatch)).ppoEpochs(knob("ppoEpochs", 4))
          .maxNewTokens(maxNew).temperature(temperature).klCoef(klCoef).minKlCoef(knobD("minKlCoef", klCoef)).adaptiveKl(targetKl, knobD("klHorizon", 4.0) * batch)
          .missingEosPenalty(knobD("missingEosPenalty", 1.0)).whitenRewards(knob("whitenRewards", 0) != 0).seed(o.seed());
      PpoConfig ppoCfg = pb.build();
      PromptPool pool = PromptPool.fitting(data.ppoPrompts, tok, ppoCfg, context); // openings too long for the context are left out
      if (pool.tooLong() + pool.empty() > 0) {
        LOG.info("PPO prompts: {}", pool.summary());
      }
      CausalLm critic = critic(System.getProperty("rlhf4j.quickstart.ppoCritic", PPO_CRITIC), sft, proxy, mo);
      PpoTrainer ppo = PpoTrainer.builder(ppoCfg).policy(critic == null ? sft.withNewValueHead() : sft.copy(mo)).critic(critic).reference(sft)
          .rewardModel(proxy).tokenizer(tok).prompts(pool.prompts()).listener(stage("ppo", listener)).build();
      List<CurvePoint> curve = new ArrayList<>();
      curve.add(track(0, sft, sft, proxy, gold, tok, data.trackPrompts, sampling, o.seed() + 7, metrics, recorder));
      CausalLm best = null;
      long bestStep = 0;
      List<PpoStats> ppoStats = new ArrayList<>();
      int every = knob("trackEvery", p.trackEvery);
      for (int step = 1; step <= ppoSteps; step++) {
        ppoStats.add(ppo.step());
        if (step % every == 0 || step == ppoSteps) {
          CurvePoint c = track(step, ppo.policy(), sft, proxy, gold, tok, data.trackPrompts, sampling, o.seed() + 7, metrics, recorder);
          curve.add(c);
          double bestSoFar = curve.subList(0, curve.size() - 1).stream().filter(x -> x.stepOrN() > 0).mapToDouble(CurvePoint::gold).max().orElse(Double.NEGATIVE_INFINITY);
          if (c.gold() > bestSoFar) {
            if (best != null) {
              best.close();
            }
            best = ppo.policy().copy(mo);
            bestStep = step;
          }
        }
      }
      ModelCheckpoint.save(ckpt.resolve("ppo"), ppo.policy(), Provenance.of("ppo", o.seed(), ppoCfg.toMap(), "sft"), Map.of(), tok);
      Map<String, Object> bestProv = new LinkedHashMap<>(ppoCfg.toMap());
      bestProv.put("selected_by", "gold reward model score on " + data.trackPrompts.size() + " held-out prompts");
      bestProv.put("ppo_step", bestStep);
      ModelCheckpoint.save(ckpt.resolve("ppo-best"), best, Provenance.of("ppo-best", o.seed(), bestProv, "sft"), Map.of(), tok);
      mark = lap(stageSeconds, "ppo", mark);

      // 5. Evaluate on other held-out prompts: SFT, best-of-n from SFT (proxy's favourite), PPO.
      List<String> evalPrompts = data.evalPrompts;
      List<Samples.Sample> sftSamples = Samples.sampleAndScore(sft, sft, proxy, gold, tok, evalPrompts, sampling, o.seed() + 4, 32);
      List<Samples.Sample> ppoSamples = Samples.sampleAndScore(best, sft, proxy, gold, tok, evalPrompts, sampling, o.seed() + 4, 32);
      List<Samples.Sample> finalSamples = Samples.sampleAndScore(ppo.policy(), sft, proxy, gold, tok, evalPrompts, sampling, o.seed() + 4, 32);
      Samples.write(o.out().resolve("samples-sft.jsonl"), sftSamples);
      Samples.write(o.out().resolve("samples-ppo.jsonl"), ppoSamples);
      BestOfNSampler bon = BestOfNSampler.builder(sft, proxy, tok).sampling(sampling).batchSize(64).build();
      List<BestOfNSampler.Candidates> cands = bon.sample(evalPrompts, MAX_N, o.seed() + 5);
      List<CurvePoint> bestOfN = new ArrayList<>();
      List<Samples.Sample> bestOf16 = new ArrayList<>();
      for (int n = 1; n <= MAX_N; n *= 2) {
        List<int[]> chosen = new ArrayList<>();
        double proxySum = 0;
        for (BestOfNSampler.Candidates c : cands) {
          int i = c.bestOf(n);
          chosen.add(c.sequences().get(i));
          proxySum += c.scores()[i];
        }
        double[] golds = scoreAll(gold, chosen, tok.padId());
        bestOfN.add(new CurvePoint("best-of-n", n, BestOfNSampler.analyticKl(n), proxySum / cands.size(), mean(golds)));
        if (n == MAX_N) {
          for (int k = 0; k < cands.size(); k++) {
            BestOfNSampler.Candidates c = cands.get(k);
            int i = c.bestOf(n);
            bestOf16.add(new Samples.Sample(c.prompt(), c.responses().get(i), c.scores()[i], golds[k], BestOfNSampler.analyticKl(n)));
          }
        }
      }
      Samples.write(o.out().resolve("samples-best-of-" + MAX_N + ".jsonl"), bestOf16);
      WinRate vsSft = WinRate.fromScores("ppo", "sft", Samples.golds(ppoSamples), Samples.golds(sftSamples));
      WinRate vsBon = WinRate.fromScores("ppo", "best-of-" + MAX_N, Samples.golds(ppoSamples), Samples.golds(bestOf16));
      writeWinRates(o.out().resolve("win-rates.json"), List.of(vsSft, vsBon));
      double known = knownWordFraction(corpus, ppoSamples);

      List<Metrics> rmCurve = new ArrayList<>(Plots.movingAverage(recorder.steps("reward"), List.of("loss", "accuracy"), 20));
      rmCurve.addAll(recorder.evaluations("reward"));
      Plots.lines(o.out().resolve("reward-model.png"), "Proxy reward model: training loss and accuracy (moving average of 20 steps), held-out accuracy", rmCurve,
          List.of("loss (avg 20)", "accuracy (avg 20)", "eval/accuracy"));
      Plots.lines(o.out().resolve("ppo.png"), "PPO: proxy score and KL to the SFT model (training batches)", recorder.steps(PpoTrainer.PHASE), List.of("objective/scores", "objective/kl"));
      Plots.lines(o.out().resolve("language-model.png"), "Pre-training and SFT loss", merge(recorder, "pretrain", "sft"), List.of("pretrain/loss", "sft/loss"));
      overoptimisationPlot(o.out().resolve("overoptimisation.png"), curve, bestOfN);
      printSideBySide(sftSamples, ppoSamples, 6);
      lap(stageSeconds, "evaluation", mark);
      int n = ppoStats.size();
      int k = Math.max(1, n / 5);
      double first = ppoStats.subList(0, k).stream().mapToDouble(PpoStats::meanScore).average().orElse(Double.NaN);
      double last = ppoStats.subList(n - k, n).stream().mapToDouble(PpoStats::meanScore).average().orElse(Double.NaN);
      double[] sftGolds = Samples.golds(sftSamples);
      Result result = new Result(
          pretrainPpl,
          sftPpl,
          proxyAccuracy,
          goldAccuracy,
          Samples.meanScore(sftSamples),
          Samples.meanScore(ppoSamples),
          mean(sftGolds),
          Samples.meanGold(ppoSamples),
          std(sftGolds),
          Samples.meanKl(ppoSamples),
          bestStep,
          Samples.meanGold(finalSamples),
          Samples.meanKl(finalSamples),
          bestOfN.get(bestOfN.size() - 1).proxy(),
          bestOfN.get(bestOfN.size() - 1).gold(),
          List.copyOf(curve),
          List.copyOf(bestOfN),
          vsSft,
          vsBon,
          known,
          first,
          last,
          (System.nanoTime() - start) / 1e9,
          Collections.unmodifiableMap(stageSeconds),
          o.out(),
          dataSeed);
      writeSummary(o, result);
      best.close();
      if (critic != null) {
        critic.close();
      }
      return result;
    }
  }

  /**
   * PPO's value function: {@code "proxy"} (default), a separate critic copied from the proxy reward
   * model with its head rescaled to the normalised scores ({@link TransformerRewardModel#criticCopy},
   * as InstructGPT and TRL's PPOTrainer initialise it): it explains about 0.5 of the returns' variance
   * from the first step. {@code "sft"}, a copy of the SFT model with a zero value head, and {@code
   * "none"}, a zero value head on the policy (shared trunk; its loss's gradients move the policy),
   * still explain none of it after 8-15 steps at this learning rate ({@code val/var_explained} about
   * 0), so PPO then learns with no baseline but the batch mean.
   */
  static final String PPO_CRITIC = "proxy";

  private static CausalLm critic(String kind, GptModel sft, TransformerRewardModel proxy, ModelOptions mo) {
    return switch (kind) {
      case "sft" -> sft.withNewValueHead();
      case "proxy" -> proxy.criticCopy(mo);
      case "none" -> null;
      default -> throw new IllegalArgumentException("rlhf4j.quickstart.ppoCritic must be sft, proxy or none, got \"" + kind + "\"");
    };
  }

  /** Largest n of the best-of-n baseline. */
  static final int MAX_N = 16;

  /** The adaptive KL controller's default target (nats). */
  static final double TARGET_KL = 6.0;

  /**
   * The initial KL coefficient beta, also the controller's floor (anti-windup, see {@link
   * KlController}).
   */
  static final double INIT_KL_COEF = 0.1;

  /**
   * The sampling temperature of every policy here (SFT samples, best-of-n, PPO rollouts and its
   * log-probabilities and KL, which are all computed at this temperature).
   */
  static final double TEMPERATURE = 0.7;

  /** A trained reward model and its training result. */
  private record TrainedReward(TransformerRewardModel model, RewardResult result) {}

  /**
   * A tuning knob: the system property {@code rlhf4j.quickstart.NAME} if set, else the preset's
   * value (for experiments; the README's numbers use no overrides).
   */
  static int knob(String name, int dflt) {
    return Integer.getInteger("rlhf4j.quickstart." + name, dflt);
  }

  static double knobD(String name, double dflt) {
    String v = System.getProperty("rlhf4j.quickstart." + name);
    return v == null ? dflt : Double.parseDouble(v);
  }

  /** All English text that is not held out: tinyshakespeare, training review sentences, self-instruct, the preference demo. */
  static List<String> trainingText(ReviewData data) throws IOException {
    List<String> out = new ArrayList<>();
    out.add(Files.readString(SharedData.require("corpus/tinyshakespeare.txt"), StandardCharsets.UTF_8));
    out.addAll(data.trainingSentences);
    ObjectMapper json = new ObjectMapper();
    Optional<Path> instructions = SharedData.find("sft/user_oriented_instructions.jsonl");
    if (instructions.isPresent()) {
      for (String line : Files.readAllLines(instructions.get(), StandardCharsets.UTF_8)) {
        if (line.isBlank()) {
          continue;
        }
        JsonNode n = json.readTree(line);
        out.add(n.path("instruction").asText());
        for (JsonNode i : n.path("instances")) {
          out.add(i.path("input").asText());
          out.add(i.path("output").asText());
        }
      }
    }
    Optional<Path> prefs = SharedData.find("preference/dpo_en_demo.json");
    if (prefs.isPresent()) {
      for (JsonNode n : json.readTree(prefs.get().toFile())) {
        for (JsonNode c : n.path("conversations")) {
          out.add(c.path("value").asText());
        }
        out.add(n.path("chosen").path("value").asText());
        out.add(n.path("rejected").path("value").asText());
      }
    }
    out.removeIf(String::isBlank);
    return out;
  }

  /** The texts' tokens, each text followed by EOS. */
  private static int[] stream(Tokenizer tok, List<String> texts) {
    List<int[]> parts = new ArrayList<>();
    int total = 0;
    for (String t : texts) {
      int[] ids = tok.encode(t);
      parts.add(ids);
      total += ids.length + 1;
    }
    int[] out = new int[total];
    int at = 0;
    for (int[] ids : parts) {
      System.arraycopy(ids, 0, out, at, ids.length);
      at += ids.length;
      out[at++] = tok.eosId();
    }
    return out;
  }

  private static TrainedReward rewardModel(String name, int dModel, int layers, double lr, List<Ranking> comparisons, GptModel base, GptModel sft, Tokenizer tok, int context,
      ModelOptions mo, long seed, ReviewData data, TrainingListener listener) {
    String init = System.getProperty("rlhf4j.quickstart." + name + "Init", name.equals("gold") ? "pretrain" : "scratch");
    GptModel trunk = switch (init) {
      case "scratch" -> GptModel.randomInit(GptConfig.builder().vocabSize(tok.vocabSize()).dModel(dModel).heads(Math.max(1, dModel / 32)).layers(layers).contextLength(context).build(), seed, mo);
      case "pretrain" -> base.copy(mo);
      case "sft" -> sft.copy(mo);
      default -> throw new IllegalArgumentException("rlhf4j.quickstart." + name + "Init must be scratch, pretrain or sft, got " + init);
    };
    TransformerRewardModel rm = TransformerRewardModel.fromPolicy(trunk, seed);
    // BOS + sentence + EOS must fit the context (sentences were chosen by characters, not tokens).
    comparisons = comparisons.stream().filter(r -> r.responses().stream().allMatch(t -> tok.encode(t).length + 2 <= context)).toList();
    List<Ranking> heldOut = data.heldOutComparisons.stream().filter(r -> r.responses().stream().allMatch(t -> tok.encode(t).length + 2 <= context)).toList();
    int steps = comparisons.size() / 16;
    RewardConfig cfg = RewardConfig.builder().learningRate(lr).warmupSteps(Math.max(1, steps / 20)).epochs(1).promptsPerBatch(16).maxLength(context)
        .evalEvery(Math.max(1, steps / 5)).seed(seed).build();
    String phase = name.equals("proxy") ? "reward" : "gold-reward";
    RewardResult r = RewardTrainer.builder(cfg).listener(stage(phase, listener)).build().train(rm, tok, comparisons, heldOut);
    return new TrainedReward(rm, r);
  }

  /** Samples {@code policy} on the tracking prompts and records proxy, gold and KL as a "track" evaluation. */
  private static CurvePoint track(long step, CausalLm policy, CausalLm sft, RewardModel proxy, RewardModel gold, Tokenizer tok, List<String> prompts, SamplingConfig sampling, long seed,
      JsonlMetricsWriter metrics, MetricsRecorder recorder) {
    List<Samples.Sample> s = Samples.sampleAndScore(policy, sft, proxy, gold, tok, prompts, sampling, seed, 32);
    CurvePoint c = new CurvePoint("ppo", step, Math.max(0, Samples.meanKl(s)), Samples.meanScore(s), Samples.meanGold(s));
    Metrics m = Metrics.of("track", step, Map.of("track/proxy", c.proxy(), "track/gold", c.gold(), "track/kl", Samples.meanKl(s)));
    metrics.onEvaluation(m);
    recorder.onEvaluation(m);
    return c;
  }

  private static double[] scoreAll(RewardModel rm, List<int[]> sequences, int padId) {
    double[] out = new double[sequences.size()];
    for (int start = 0; start < sequences.size(); start += 64) {
      List<int[]> chunk = sequences.subList(start, Math.min(sequences.size(), start + 64));
      double[] s = rm.score(TokenBatch.rightPadded(chunk, padId)).toDoubleVector();
      System.arraycopy(s, 0, out, start, s.length);
    }
    return out;
  }

  static double mean(double[] x) {
    return java.util.Arrays.stream(x).average().orElse(Double.NaN);
  }

  static double std(double[] x) {
    double m = mean(x);
    return Math.sqrt(java.util.Arrays.stream(x).map(v -> (v - m) * (v - m)).sum() / Math.max(1, x.length - 1));
  }

  /**
   * The fraction of the whitespace-separated words of the samples' responses (punctuation stripped,
   * lower case) that occur in the training text (the same normalisation); words that are only
   * punctuation are skipped.
   */
  static double knownWordFraction(List<String> trainingText, List<Samples.Sample> samples) {
    java.util.Set<String> vocab = new java.util.HashSet<>();
    for (String t : trainingText) {
      for (String w : t.split("\\s+")) {
        String n = normalizeWord(w);
        if (!n.isEmpty()) {
          vocab.add(n);
        }
      }
    }
    int total = 0;
    int known = 0;
    for (Samples.Sample s : samples) {
      for (String w : s.response().split("\\s+")) {
        String n = normalizeWord(w);
        if (!n.isEmpty()) {
          total++;
          known += vocab.contains(n) ? 1 : 0;
        }
      }
    }
    return total == 0 ? Double.NaN : (double) known / total;
  }

  static String normalizeWord(String w) {
    return w.replaceAll("[^\\p{L}\\p{N}]", "").toLowerCase(Locale.ROOT);
  }

  private static void overoptimisationPlot(Path png, List<CurvePoint> ppo, List<CurvePoint> bon) {
    Map<String, double[][]> series = new LinkedHashMap<>();
    series.put("PPO: proxy", xy(ppo, true));
    series.put("PPO: gold", xy(ppo, false));
    series.put("best-of-n (n = 1..16): proxy", xy(bon, true));
    series.put("best-of-n (n = 1..16): gold", xy(bon, false));
    Plots.xy(png, "Over-optimisation: proxy vs gold reward-model score (SFT-sample std units)", "sqrt(KL to SFT), sqrt(nats)", "mean score on held-out prompts", series);
  }

  private static double[][] xy(List<CurvePoint> points, boolean proxy) {
    double[] x = points.stream().mapToDouble(c -> Math.sqrt(Math.max(0, c.kl()))).toArray();
    double[] y = points.stream().mapToDouble(c -> proxy ? c.proxy() : c.gold()).toArray();
    return new double[][] {x, y};
  }

  private static void writeWinRates(Path file, List<WinRate> rates) throws IOException {
    ObjectMapper json = new ObjectMapper();
    com.fasterxml.jackson.databind.node.ArrayNode arr = json.createArrayNode();
    for (WinRate w : rates) {
      ObjectNode n = arr.addObject();
      n.put("a", w.nameA());
      n.put("b", w.nameB());
      n.put("judge", "gold reward model");
      n.put("n", w.n());
      n.put("wins", w.wins());
      n.put("losses", w.losses());
      n.put("ties", w.ties());
      n.put("win_rate", w.rate());
      n.put("wilson95_low", w.low());
      n.put("wilson95_high", w.high());
    }
    AtomicFiles.writeBytes(file, json.writerWithDefaultPrettyPrinter().writeValueAsBytes(arr));
  }

  private static void writeSummary(Options o, Result r) throws IOException {
    ObjectMapper json = new ObjectMapper();
    ObjectNode n = json.createObjectNode();
    n.put("preset", o.preset().name().toLowerCase(Locale.ROOT));
    n.put("seed", o.seed());
    n.put("data_seed", r.dataSeed());
    if (o.reuse() != null) {
      n.put("stages_reused_from", o.reuse().toString());
    }
    n.put("threads", o.threads());
    n.put("pretrain_perplexity", r.pretrainPerplexity());
    n.put("sft_perplexity", r.sftPerplexity());
    n.put("proxy_accuracy", r.rewardAccuracy());
    n.put("gold_accuracy", r.goldAccuracy());
    n.put("sft_proxy", r.sftScore());
    n.put("sft_gold", r.sftGold());
    n.put("sft_gold_std", r.sftGoldStd());
    n.put("ppo_proxy", r.ppoScore());
    n.put("ppo_gold", r.ppoGold());
    n.put("ppo_kl", r.ppoKl());
    n.put("ppo_gold_gain_std", r.goldGainInStd());
    n.put("ppo_best_step", r.bestStep());
    n.put("ppo_final_gold", r.finalPpoGold());
    n.put("ppo_final_kl", r.finalPpoKl());
    n.put("best_of_16_proxy", r.bestOf16Score());
    n.put("best_of_16_gold", r.bestOf16Gold());
    n.put("win_rate_ppo_vs_sft", r.ppoVsSft().rate());
    n.put("win_rate_ppo_vs_best_of_16", r.ppoVsBestOf16().rate());
    n.put("known_word_fraction", r.knownWordFraction());
    n.put("seconds", r.seconds());
    ObjectNode st = n.putObject("stage_seconds");
    r.stageSeconds().forEach(st::put);
    com.fasterxml.jackson.databind.node.ArrayNode curve = n.putArray("curve");
    for (CurvePoint c : r.ppoCurve()) {
      curve.addObject().put("policy", c.policy()).put("step", c.stepOrN()).put("kl", c.kl()).put("proxy", c.proxy()).put("gold", c.gold());
    }
    for (CurvePoint c : r.bestOfN()) {
      curve.addObject().put("policy", c.policy()).put("n", c.stepOrN()).put("kl", c.kl()).put("proxy", c.proxy()).put("gold", c.gold());
    }
    AtomicFiles.writeBytes(o.out().resolve("summary.json"), json.writerWithDefaultPrettyPrinter().writeValueAsBytes(n));
    AtomicFiles.writeBytes(o.out().resolve("summary.txt"), summary(o, r).getBytes(StandardCharsets.UTF_8));
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

  private static void printSideBySide(List<Samples.Sample> sft, List<Samples.Sample> ppo, int n) {
    System.out.println();
    System.out.println("Held-out prompts, SFT vs PPO samples ([proxy / gold] scores):");
    for (int i = 0; i < Math.min(n, sft.size()); i++) {
      System.out.printf(Locale.ROOT, "  prompt: %s%n    SFT [%+.2f / %+.2f]:%s%n    PPO [%+.2f / %+.2f]:%s%n", sft.get(i).prompt(), sft.get(i).score(), sft.get(i).gold(), oneLine(sft.get(i).response()),
          ppo.get(i).score(), ppo.get(i).gold(), oneLine(ppo.get(i).response()));
    }
  }

  private static String oneLine(String s) {
    return s.replace('\n', ' ');
  }
}
