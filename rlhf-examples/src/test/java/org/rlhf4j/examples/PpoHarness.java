package org.rlhf4j.examples;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.data.SharedData;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.JsonlMetricsWriter;
import org.rlhf4j.core.train.TrainingArguments;
import org.rlhf4j.ppo.KlEstimator;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;
import org.rlhf4j.ppo.PromptPool;
import org.rlhf4j.reward.TransformerRewardModel;

/**
 * A development harness (not a test): runs only the quick-start's PPO stage and its gold evaluation
 * on the SFT model and the two reward models of a finished quick-start run ({@code --from DIR}, its
 * {@code checkpoints/}), for several PPO seeds. Settings come from the quick-start's knobs ({@code
 * -Drlhf4j.quickstart.NAME=VALUE}) plus {@code -Dppo.NAME} for library options the quick-start does
 * not set. Prints per seed the best-by-gold checkpoint's and the last step's proxy, gold and KL on
 * the 128 evaluation prompts, and the gold gain in SFT standard deviations.
 *
 * <pre>
 * java -cp ... org.rlhf4j.examples.PpoHarness --from /tmp/qs-base --seeds 42,43,44 --out /tmp/h-x
 * </pre>
 */
public final class PpoHarness {
  private PpoHarness() {}

  public static void main(String[] args) throws Exception {
    Path from = null;
    Path out = Path.of("/tmp/ppo-harness");
    List<Long> seeds = new ArrayList<>(List.of(42L));
    int threads = 2;
    String timing = null; // e.g. "none,sft,proxy": only time ppoSteps PPO steps per critic, alternating, twice
    for (int i = 0; i < args.length; i += 2) {
      switch (args[i]) {
        case "--from" -> from = Path.of(args[i + 1]);
        case "--out" -> out = Path.of(args[i + 1]);
        case "--threads" -> threads = Integer.parseInt(args[i + 1]);
        case "--seeds" -> {
          seeds.clear();
          for (String s : args[i + 1].split(",")) {
            seeds.add(Long.parseLong(s.trim()));
          }
        }
        case "--timing" -> timing = args[i + 1];
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    if (from == null) {
      throw new IllegalArgumentException("--from DIR (a finished quick-start output directory) is required");
    }
    Files.createDirectories(out);
    Preset p = Preset.SMALL;
    long dataSeed = 42;
    ModelOptions mo = new ModelOptions(DataType.FLOAT, threads);
    Path ckpt = from.resolve("checkpoints");
    ModelCheckpoint.Loaded sftL = ModelCheckpoint.load(ckpt.resolve("sft"), mo);
    GptModel sft = sftL.model();
    Tokenizer tok = sftL.tokenizer().orElseThrow();
    TransformerRewardModel proxy = TransformerRewardModel.load(ckpt.resolve("reward"), mo);
    TransformerRewardModel gold = TransformerRewardModel.load(ckpt.resolve("gold-reward"), mo);
    ReviewData data = ReviewData.load(SharedData.require("sentiment/movie-review-snippets.tsv"), QuickStart.knob("maxChars", p.maxChars),
        QuickStart.knob("proxySteps", p.proxySteps) * 16, QuickStart.knob("goldSteps", p.goldSteps) * 16, p.evalPrompts, p.trackPrompts, dataSeed);
    int context = sft.config().contextLength();
    int maxNew = Math.min(p.responseLength, context - 8);
    double temperature = QuickStart.knobD("temperature", QuickStart.TEMPERATURE);
    SamplingConfig sampling = SamplingConfig.builder().temperature(temperature).maxNewTokens(maxNew).stopTokens(tok.eosId()).build();
    if (timing != null) {
      int steps = QuickStart.knob("ppoSteps", p.ppoSteps);
      for (int round = 0; round < Integer.getInteger("ppo.timingRounds", 3); round++) {
        for (String c : timing.split(",")) {
          System.setProperty("ppo.critic", c);
          PpoConfig cfg = config(p, batchOf(p), maxNew, temperature, 42);
          PromptPool pool = PromptPool.fitting(data.ppoPrompts, tok, cfg, context);
          try (CausalLm critic = criticOf(sft, proxy, mo);
              CausalLm policy = critic == null ? sft.withNewValueHead() : sft.copy(mo);
              JsonlMetricsWriter metrics = new JsonlMetricsWriter(out.resolve("timing-" + c + "-" + round + ".jsonl"));
              PpoTrainer ppo = PpoTrainer.builder(cfg).policy(policy).reference(sft).rewardModel(proxy).tokenizer(tok).prompts(pool.prompts())
                  .critic(critic).listener(metrics).build()) {
            long t0 = System.nanoTime();
            ppo.train(steps);
            System.out.printf(Locale.ROOT, "timing round %d critic %s: %d PPO steps in %.2f s%n", round, c, steps, (System.nanoTime() - t0) / 1e9);
          }
        }
      }
      return;
    }
    List<Samples.Sample> sftSamples = Samples.sampleAndScore(sft, sft, proxy, gold, tok, data.evalPrompts, sampling, dataSeed + 4, 32);
    double sftGold = Samples.meanGold(sftSamples);
    double[] g = Samples.golds(sftSamples);
    double ss = 0;
    for (double x : g) {
      ss += (x - sftGold) * (x - sftGold);
    }
    double sftStd = Math.sqrt(ss / (g.length - 1));
    System.out.printf(Locale.ROOT, "SFT eval: proxy %+.3f gold %+.3f (std %.3f)%n", Samples.meanScore(sftSamples), sftGold, sftStd);
    List<double[]> rows = new ArrayList<>();
    for (long seed : seeds) {
      PpoConfig cfg = config(p, batchOf(p), maxNew, temperature, seed);
      PromptPool pool = PromptPool.fitting(data.ppoPrompts, tok, cfg, context);
      long t0 = System.nanoTime();
      CausalLm best = null;
      long bestStep = 0;
      double bestTrack = Double.NEGATIVE_INFINITY;
      double trackTime = 0;
      try (JsonlMetricsWriter metrics = new JsonlMetricsWriter(out.resolve("metrics-" + seed + ".jsonl"));
          CausalLm critic = criticOf(sft, proxy, mo);
          CausalLm policy = critic == null ? sft.withNewValueHead() : sft.copy(mo);
          PpoTrainer ppo = PpoTrainer.builder(cfg).policy(policy).reference(sft).rewardModel(proxy).tokenizer(tok).prompts(pool.prompts())
              .critic(critic).listener(metrics).build()) {
        int steps = QuickStart.knob("ppoSteps", p.ppoSteps);
        int every = QuickStart.knob("trackEvery", p.trackEvery);
        StringBuilder curve = new StringBuilder();
        for (int step = 1; step <= steps; step++) {
          PpoStats s = ppo.step();
          if (step % every == 0 || step == steps) {
            long tt = System.nanoTime();
            List<Samples.Sample> tr = Samples.sampleAndScore(ppo.policy(), sft, proxy, gold, tok, data.trackPrompts, sampling, dataSeed + 7, 32);
            trackTime += (System.nanoTime() - tt) / 1e9;
            double tg = Samples.meanGold(tr);
            curve.append(String.format(Locale.ROOT, " %d:%.2f/%.2f/%.1f", step, Samples.meanScore(tr), tg, Samples.meanKl(tr)));
            System.out.printf(Locale.ROOT, "seed %d step %d: track proxy %.3f gold %.3f kl %.2f; batch kl %.2f beta %.3f (%.0f s)%n", seed, step,
                Samples.meanScore(tr), tg, Samples.meanKl(tr), s.values().get("objective/kl"), s.values().get("objective/kl_coef"), (System.nanoTime() - t0) / 1e9);
            if (tg > bestTrack) {
              bestTrack = tg;
              bestStep = step;
              if (best != null) {
                best.close();
              }
              best = ppo.policy().copy(mo);
            }
          }
        }
        double ppoSeconds = (System.nanoTime() - t0) / 1e9 - trackTime;
        List<Samples.Sample> bs = Samples.sampleAndScore(best, sft, proxy, gold, tok, data.evalPrompts, sampling, dataSeed + 4, 32);
        List<Samples.Sample> fs = Samples.sampleAndScore(ppo.policy(), sft, proxy, gold, tok, data.evalPrompts, sampling, dataSeed + 4, 32);
        double[] row = {
          seed, bestStep, Samples.meanScore(bs), Samples.meanGold(bs), Samples.meanKl(bs), (Samples.meanGold(bs) - sftGold) / sftStd,
          Samples.meanScore(fs), Samples.meanGold(fs), Samples.meanKl(fs), (Samples.meanGold(fs) - sftGold) / sftStd, ppoSeconds
        };
        rows.add(row);
        System.out.println("track (step:proxy/gold/kl):" + curve);
        print(row);
        best.close();
      }
    }
    System.out.println("config: " + config(p, batchOf(p), maxNew, temperature, 0).toMap());
    System.out.println("seed  best  proxy   gold     KL   gain | final proxy  gold     KL   gain | ppo s");
    double[] mean = new double[11];
    for (double[] r : rows) {
      print(r);
      for (int i = 0; i < r.length; i++) {
        mean[i] += r[i] / rows.size();
      }
    }
    System.out.print("mean ");
    print(mean);
  }

  /** -Dppo.critic=sft (a copy of SFT with a zero value head), proxy (a copy of the proxy reward model), or none (the policy's head); default: the quick-start's. */
  private static CausalLm criticOf(GptModel sft, TransformerRewardModel proxy, ModelOptions mo) {
    String c = System.getProperty("ppo.critic", System.getProperty("rlhf4j.quickstart.ppoCritic", QuickStart.PPO_CRITIC));
    return switch (c) {
      case "none" -> null;
      case "sft" -> sft.withNewValueHead();
      case "proxy" -> proxy.criticCopy(mo);
      default -> throw new IllegalArgumentException("ppo.critic: " + c);
    };
  }

  private static int batchOf(Preset p) {
    return QuickStart.knob("ppoBatch", p.ppoBatch);
  }

  private static void print(double[] r) {
    System.out.printf(Locale.ROOT, "%4d %4d  %+.3f %+.3f %5.2f %+.2f | %+.3f %+.3f %5.2f %+.2f | %.1f%n", (long) r[0], (long) r[1], r[2], r[3], r[4], r[5], r[6],
        r[7], r[8], r[9], r[10]);
  }

  /** The quick-start's PPO configuration (kept in step with QuickStart by hand), with extra knobs. */
  static PpoConfig config(Preset p, int batch, int maxNew, double temperature, long seed) {
    double targetKl = QuickStart.knobD("targetKl", QuickStart.TARGET_KL);
    double klCoef = QuickStart.knobD("klCoef", QuickStart.INIT_KL_COEF);
    PpoConfig.Builder pb = PpoConfig.builder().learningRate(QuickStart.knobD("ppoLr", 1e-4)).rolloutBatchSize(batch)
        .miniBatchSize(QuickStart.knob("ppoMiniBatch", p.ppoMiniBatch)).ppoEpochs(QuickStart.knob("ppoEpochs", 4))
        .maxNewTokens(maxNew).temperature(temperature).klCoef(klCoef).minKlCoef(QuickStart.knobD("minKlCoef", klCoef))
        .adaptiveKl(targetKl, QuickStart.knobD("klHorizon", 4.0) * batch)
        .missingEosPenalty(QuickStart.knobD("missingEosPenalty", 1.0)).whitenRewards(QuickStart.knob("whitenRewards", 0) != 0).seed(seed);
    if (System.getProperty("ppo.vfCoef") != null) {
      pb.vfCoef(Double.parseDouble(System.getProperty("ppo.vfCoef")));
    }
    if (System.getProperty("ppo.clipRange") != null) {
      pb.clipRange(Double.parseDouble(System.getProperty("ppo.clipRange")));
    }
    if (System.getProperty("ppo.clipRangeValue") != null) {
      pb.clipRangeValue(Double.parseDouble(System.getProperty("ppo.clipRangeValue")));
    }
    if (System.getProperty("ppo.lam") != null) {
      pb.lam(Double.parseDouble(System.getProperty("ppo.lam")));
    }
    if (System.getProperty("ppo.gamma") != null) {
      pb.gamma(Double.parseDouble(System.getProperty("ppo.gamma")));
    }
    if (System.getProperty("ppo.entropyCoef") != null) {
      pb.entropyCoef(Double.parseDouble(System.getProperty("ppo.entropyCoef")));
    }
    if (System.getProperty("ppo.maxGradNorm") != null) {
      pb.maxGradNorm(Double.parseDouble(System.getProperty("ppo.maxGradNorm")));
    }
    if (System.getProperty("ppo.warmupSteps") != null) {
      pb.warmupSteps(Integer.parseInt(System.getProperty("ppo.warmupSteps")));
    }
    if (System.getProperty("ppo.klEstimator") != null) {
      pb.klEstimator(KlEstimator.valueOf(System.getProperty("ppo.klEstimator")));
    }
    if (System.getProperty("ppo.scoreScaling") != null) {
      pb.scoreScaling(true, Boolean.parseBoolean(System.getProperty("ppo.scoreScaling")));
    }
    if (System.getProperty("ppo.earlyStopping") != null) {
      pb.earlyStopping(Double.parseDouble(System.getProperty("ppo.earlyStopping")));
    }
    if (System.getProperty("ppo.linearDecay") != null) {
      int steps = QuickStart.knob("ppoSteps", p.ppoSteps);
      int mb = QuickStart.knob("ppoMiniBatch", p.ppoMiniBatch);
      int epochs = QuickStart.knob("ppoEpochs", 4);
      pb.schedule(TrainingArguments.Schedule.LINEAR).scheduleSteps((long) steps * epochs * ((batch + mb - 1) / mb));
    }
    return pb.build();
  }
}
