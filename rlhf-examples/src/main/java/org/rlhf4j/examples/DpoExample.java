package org.rlhf4j.examples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.data.SharedData;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftResult;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.core.train.JsonlMetricsWriter;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.LoggingListener;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.dpo.DpoConfig;
import org.rlhf4j.reward.dpo.DpoResult;
import org.rlhf4j.reward.dpo.DpoTrainer;

/**
 * DPO instead of reward model + PPO: a byte-level GPT is fine-tuned on human-written review
 * sentences (the reference), then trained with DPO on the quick-start's human comparisons (the
 * higher-rated of two sentences preferred), and its implicit reward is evaluated on held-out
 * comparisons. Writes {@code metrics.jsonl} and the checkpoints {@code checkpoints/sft} and {@code
 * checkpoints/dpo} under the output directory.
 *
 * <p>{@code mvn -q -pl rlhf-examples -am package -DskipTests exec:exec
 * -Dexample=org.rlhf4j.examples.DpoExample -Dexample.args="--preset tiny"}
 */
public final class DpoExample {
  private DpoExample() {}

  /**
   * @param seed the seed of every stage
   * @param out the output directory
   * @param preset model and step counts ({@link Preset#pretrainSteps} + {@link Preset#sftSteps} SFT
   *     steps, {@link Preset#rewardSteps} DPO steps and held-out pairs)
   * @param threads threads for the model
   * @param quiet no progress log
   */
  public record Options(long seed, Path out, Preset preset, int threads, boolean quiet) {}

  /**
   * @param out the output directory
   * @param sftLoss the reference's final SFT loss
   * @param dpo the DPO run (its {@code finalEval} holds the held-out implicit-reward accuracy)
   */
  public record Result(Path out, double sftLoss, DpoResult dpo) {
    /** The held-out implicit-reward accuracy after DPO. */
    public double heldOutAccuracy() {
      return dpo.finalEval().orElseThrow().accuracy();
    }
  }

  /** The byte-level model's sizes (the quick-start's presets count BPE tokens). */
  record Size(int dModel, int heads, int layers, int context, int sftSteps, int rewardSteps) {
    static Size of(Preset preset) {
      return preset == Preset.TINY ? new Size(32, 2, 2, 64, 160, 120) : new Size(128, 4, 4, 96, 800, 250);
    }
  }

  /** Runs SFT then DPO and returns the result. */
  public static Result run(Options o) throws IOException {
    Size p = Size.of(o.preset());
    Path reviews = SharedData.require("sentiment/movie-review-snippets.tsv");
    Files.createDirectories(o.out());
    Files.deleteIfExists(o.out().resolve("metrics.jsonl"));
    ModelOptions mo = new ModelOptions(DataType.FLOAT, o.threads());
    ByteTokenizer tok = ByteTokenizer.create();
    ReviewData data = ReviewData.load(reviews, p.context - 2, p.rewardSteps * 16, p.rewardSteps * 16, 0, 0, o.seed());
    try (JsonlMetricsWriter metrics = new JsonlMetricsWriter(o.out().resolve("metrics.jsonl"))) {
      List<TrainingListener> ls = new ArrayList<>(List.of(metrics));
      if (!o.quiet()) {
        ls.add(new LoggingListener(20));
      }
      TrainingListener listener = Listeners.of(ls);

      // 1. The reference: a GPT fine-tuned on whole review sentences (the comparisons have no prompt).
      GptConfig cfg = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(p.dModel).heads(p.heads).layers(p.layers).contextLength(p.context).build();
      GptModel sft = GptModel.randomInit(cfg, o.seed(), mo);
      SftConfig sftCfg = SftConfig.builder().learningRate(2e-3).schedule(SftConfig.Schedule.COSINE).warmupSteps(p.sftSteps / 20)
          .maxSteps(p.sftSteps).batchSize(16).maxLength(p.context).seed(o.seed()).build();
      SftData texts = SftData.fromExamples(data.demonstrations, tok, p.context, true, false);
      SftResult sftResult = SftTrainer.builder(sftCfg).listener(listener).build().train(sft, texts);
      ModelCheckpoint.save(o.out().resolve("checkpoints/sft"), sft, Provenance.of("sft", o.seed(), sftCfg.toMap(), null), Map.of(), tok);

      // 2. DPO on the human comparisons, against the frozen SFT model.
      GptModel policy = sft.copy(mo);
      DpoConfig dpoCfg = DpoConfig.builder().beta(0.1).learningRate(1e-3).warmupSteps(p.rewardSteps / 20).maxSteps(p.rewardSteps)
          .promptsPerBatch(16).maxLength(p.context).evalEvery(Math.max(1, p.rewardSteps / 2)).seed(o.seed()).build();
      DpoTrainer trainer = DpoTrainer.builder(dpoCfg).policy(policy).reference(sft).tokenizer(tok).listener(listener).build();
      List<Ranking> heldOut = data.heldOutComparisons.subList(0, Math.min(p.rewardSteps, data.heldOutComparisons.size()));
      DpoResult dpo = trainer.train(data.proxyComparisons, heldOut);
      trainer.saveCheckpoint(o.out().resolve("checkpoints/dpo"), dpo, "sft");
      return new Result(o.out(), sftResult.finalLoss(), dpo);
    }
  }

  /** {@code [--preset tiny|small] [--seed N] [--out DIR] [--threads N]}. */
  public static void main(String[] args) throws IOException {
    CpuBackend.configure(); // first, before anything loads ND4J: chooses the BLAS (MKL on Intel CPUs) and its kernels
    Preset preset = Preset.SMALL;
    long seed = 42;
    Path out = Path.of("rlhf-output", "dpo");
    int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
    if (args.length % 2 != 0) {
      throw new IllegalArgumentException("options come in pairs (--preset tiny), got " + List.of(args));
    }
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--preset" -> preset = Preset.valueOf(args[i + 1].toUpperCase(Locale.ROOT));
        case "--seed" -> seed = Long.parseLong(args[i + 1]);
        case "--out" -> out = Path.of(args[i + 1]);
        case "--threads" -> threads = Integer.parseInt(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i] + " (expected --preset, --seed, --out, --threads)");
      }
    }
    Result r = run(new Options(seed, out, preset, threads, false));
    DpoResult d = r.dpo();
    System.out.printf(Locale.ROOT, "DPO: held-out implicit-reward accuracy %.3f, margin %.3f, %d steps on %d pairs in %.1f s; checkpoint %s%n",
        r.heldOutAccuracy(), d.finalEval().get().margin(), d.steps(), d.trainPairs(), d.seconds(), r.out().resolve("checkpoints/dpo"));
  }
}
