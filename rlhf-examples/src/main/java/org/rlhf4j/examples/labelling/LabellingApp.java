package org.rlhf4j.examples.labelling;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.hf.PretrainedModels;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoTrainer;
import org.rlhf4j.ppo.loop.RlhfLoop;
import org.rlhf4j.ppo.loop.RlhfLoopConfig;
import org.rlhf4j.ppo.loop.RoundReport;
import org.rlhf4j.reward.RewardConfig;
import org.rlhf4j.reward.RewardTrainer;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.reward.eval.WinRate;
import org.rlhf4j.reward.feedback.AbItem;
import org.rlhf4j.reward.feedback.AbStore;
import org.rlhf4j.reward.feedback.ComparisonStore;

/**
 * Human feedback in the loop: serves the labelling page on 127.0.0.1, and runs {@link RlhfLoop}
 * with the person ranking each round's samples in the browser. Options: {@code --sft DIR} (the SFT
 * model: an rlhf4j checkpoint such as the quick-start's {@code checkpoints/sft}, or a GPT-2
 * directory; required), {@code --reward DIR} (a reward-model checkpoint; default: a new one from the
 * SFT model), {@code --prompts FILE} (one prompt per line; required), {@code --out DIR} (store and
 * checkpoints; default {@code rlhf-output/labelling}), {@code --rounds N}, {@code --k N}, {@code
 * --prompts-per-round N}, {@code --ppo-steps N}, {@code --port N} (default 8080), {@code --seed N}.
 * Stopping and starting again continues from the stored rankings and the last completed round.
 *
 * <p>Blind A/B mode: {@code --ab SAMPLES_A SAMPLES_B} (two sample files in the quick-start's format,
 * e.g. {@code samples-ppo.jsonl samples-sft.jsonl}) serves the A/B page until every item is judged or
 * skipped, keeping the verdicts in {@code <out>/ab-judgements.jsonl}, then prints the win rate of A
 * over B and writes it to {@code <out>/ab-report.json}. Options: {@code --names A,B} (default: the
 * file names without {@code samples-} and {@code .jsonl}), {@code --out DIR} (default {@code
 * rlhf-output/ab}), {@code --port N}, {@code --seed N} (which side each response is shown on),
 * {@code --labeller NAME}. Starting again shows only the items not yet judged.
 */
public final class LabellingApp {
  private LabellingApp() {}

  /** The options. */
  public record Options(Path sft, Path reward, Path prompts, Path out, int rounds, int k, int promptsPerRound, int ppoSteps, int port, long seed) {
    /** Parses the command line. */
    public static Options parse(String[] args) {
      Path sft = null;
      Path reward = null;
      Path prompts = null;
      Path out = Path.of("rlhf-output", "labelling");
      int rounds = 3;
      int k = 3;
      int perRound = 8;
      int ppoSteps = 10;
      int port = LabellingServer.DEFAULT_PORT;
      long seed = 42;
      for (int i = 0; i < args.length; i += 2) {
        if (i + 1 >= args.length) {
          throw new IllegalArgumentException("option " + args[i] + " needs a value");
        }
        String v = args[i + 1];
        switch (args[i]) {
          case "--sft" -> sft = Path.of(v);
          case "--reward" -> reward = Path.of(v);
          case "--prompts" -> prompts = Path.of(v);
          case "--out" -> out = Path.of(v);
          case "--rounds" -> rounds = Integer.parseInt(v);
          case "--k" -> k = Integer.parseInt(v);
          case "--prompts-per-round" -> perRound = Integer.parseInt(v);
          case "--ppo-steps" -> ppoSteps = Integer.parseInt(v);
          case "--port" -> port = Integer.parseInt(v);
          case "--seed" -> seed = Long.parseLong(v);
          default -> throw new IllegalArgumentException("unknown option " + args[i]);
        }
      }
      if (sft == null || prompts == null) {
        throw new IllegalArgumentException("--sft DIR and --prompts FILE are required (e.g. --sft rlhf-output/quickstart/checkpoints/sft)");
      }
      return new Options(sft, reward, prompts, out, rounds, k, perRound, ppoSteps, port, seed);
    }
  }

  /** The blind A/B mode's options. */
  public record AbOptions(Path samplesA, Path samplesB, String nameA, String nameB, Path out, int port, long seed, String labeller) {
    /** Validates the fields. */
    public AbOptions {
      checkNotNull(samplesA, "samplesA");
      checkNotNull(samplesB, "samplesB");
      checkArgument(nameA != null && !nameA.isBlank() && nameB != null && !nameB.isBlank() && !nameA.equals(nameB),
          "the two policies need two different names, got %s and %s (use --names A,B)", nameA, nameB);
      checkNotNull(out, "out");
      checkArgument(port >= 0 && port <= 65535, "port must be in 0..65535, got %s", port);
      checkArgument(labeller != null && !labeller.isBlank(), "labeller must be named");
    }

    /** Parses {@code --ab A B [--names a,b] [--out DIR] [--port N] [--seed N] [--labeller NAME]}. */
    public static AbOptions parse(String[] args) {
      checkArgument(args.length >= 3 && args[0].equals("--ab"), "usage: --ab SAMPLES_A SAMPLES_B [--names A,B] [--out DIR] [--port N] [--seed N] [--labeller NAME]");
      Path a = Path.of(args[1]);
      Path b = Path.of(args[2]);
      String nameA = policyName(a);
      String nameB = policyName(b);
      Path out = Path.of("rlhf-output", "ab");
      int port = LabellingServer.DEFAULT_PORT;
      long seed = 42;
      String labeller = "web";
      for (int i = 3; i < args.length; i += 2) {
        if (i + 1 >= args.length) {
          throw new IllegalArgumentException("option " + args[i] + " needs a value");
        }
        String v = args[i + 1];
        switch (args[i]) {
          case "--names" -> {
            String[] n = v.split(",", -1);
            checkArgument(n.length == 2, "--names needs two names separated by a comma, got %s", v);
            nameA = n[0].trim();
            nameB = n[1].trim();
          }
          case "--out" -> out = Path.of(v);
          case "--port" -> port = Integer.parseInt(v);
          case "--seed" -> seed = Long.parseLong(v);
          case "--labeller" -> labeller = v;
          default -> throw new IllegalArgumentException("unknown option " + args[i] + " for --ab");
        }
      }
      return new AbOptions(a, b, nameA, nameB, out, port, seed, labeller);
    }

    private static String policyName(Path samples) {
      String n = samples.getFileName().toString();
      n = n.endsWith(".jsonl") ? n.substring(0, n.length() - ".jsonl".length()) : n;
      return n.startsWith("samples-") && n.length() > "samples-".length() ? n.substring("samples-".length()) : n;
    }
  }

  /**
   * Serves the blind A/B page until every item is judged or skipped; then writes {@code
   * ab-report.json} to the output folder and returns the win rate of A over B (from every stored
   * verdict between them). {@code onReady} gets the page's address once it is served.
   */
  public static WinRate runAb(AbOptions o, Consumer<URI> onReady) throws IOException, InterruptedException {
    List<AbItem> items = AbSession.pairSamples(o.samplesA(), o.nameA(), o.samplesB(), o.nameB(), o.seed());
    Files.createDirectories(o.out());
    try (AbStore store = AbStore.open(o.out().resolve("ab-judgements.jsonl"))) {
      AbSession session = new AbSession(store, items, o.nameA(), o.nameB(), o.labeller());
      if (!session.finished()) {
        try (LabellingServer server = LabellingServer.startAb(session, LabellingServer.DEFAULT_HOST, o.port(), LabellingServer.Limits.DEFAULT)) {
          onReady.accept(server.uri());
          session.awaitFinished();
        }
      }
      WinRate w = session.report();
      Map<String, Object> report = new LinkedHashMap<>(AbSession.toMap(w));
      report.put("judgements", store.file().toString());
      Path target = o.out().resolve("ab-report.json");
      Path tmp = o.out().resolve("ab-report.json.tmp");
      Files.write(tmp, (new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(report) + "\n").getBytes(StandardCharsets.UTF_8));
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      return w;
    }
  }

  public static void main(String[] args) throws IOException, InterruptedException {
    CpuBackend.configure(); // first, before anything loads ND4J: chooses the BLAS (MKL on Intel CPUs) and its kernels
    if (args.length > 0 && args[0].equals("--ab")) {
      AbOptions ab = AbOptions.parse(args);
      WinRate w = runAb(ab, url -> System.out.println("Judge at " + url + " (Ctrl-C stops; starting again resumes)"));
      System.out.println(AbSession.describe(w));
      System.out.println("Report written to " + ab.out().resolve("ab-report.json"));
      return;
    }
    Nd4j.getEnvironment().setMaxMasterThreads(1);
    Options o = Options.parse(args);
    List<RoundReport> reports = run(o, url -> System.out.println("Label at " + url + " (Ctrl-C stops; starting again resumes)"));
    for (RoundReport r : reports) {
      System.out.printf(Locale.ROOT, "round %d: %d ranked, %d skipped, %d comparisons in all; PPO score %.3f, KL %.3f%n",
          r.round(), r.ranked(), r.skipped(), r.totalComparisons(), r.lastScore(), r.lastKl());
    }
  }

  /** Runs the loop behind the page; {@code onReady} gets the page's address once it is served. */
  public static List<RoundReport> run(Options o, Consumer<URI> onReady) throws IOException {
    ModelOptions mo = new ModelOptions(DataType.FLOAT, Runtime.getRuntime().availableProcessors());
    PretrainedModels.Pretrained sft = PretrainedModels.load(o.sft(), mo);
    Tokenizer tok = sft.tokenizer();
    GptModel reference = sft.model();
    TransformerRewardModel rm = o.reward() != null ? TransformerRewardModel.load(o.reward(), mo) : TransformerRewardModel.fromPolicy(reference, o.seed());
    List<String> prompts = Files.readAllLines(o.prompts(), StandardCharsets.UTF_8).stream().filter(s -> !s.isBlank()).toList();
    int context = reference.config().contextLength();
    RlhfLoopConfig cfg = RlhfLoopConfig.builder()
        .rounds(o.rounds())
        .k(o.k())
        .promptsPerRound(o.promptsPerRound())
        .ppoStepsPerRound(o.ppoSteps())
        .reward(RewardConfig.builder().learningRate(1e-4).epochs(2).promptsPerBatch(4).maxLength(context).seed(o.seed()).build())
        .ppo(PpoConfig.builder().learningRate(3e-5).rolloutBatchSize(8).miniBatchSize(4).maxNewTokens(Math.min(32, context / 4)).klCoef(0.1).seed(o.seed()).build())
        .seed(o.seed())
        .build();
    Files.createDirectories(o.out());
    try (ComparisonStore store = ComparisonStore.open(o.out().resolve("comparisons.jsonl"))) {
      store.tornTail().ifPresent(t -> System.out.println("Note: an interrupted write was found and moved to " + t.movedTo()));
      WebLabeller web = new WebLabeller(store, "web");
      try (LabellingServer server = LabellingServer.start(web, LabellingServer.DEFAULT_HOST, o.port());
          RlhfLoop loop = RlhfLoop.builder(cfg)
              .reference(reference)
              .policy(reference.withNewScalarHead(o.seed() + 1))
              .rewardModel(rm)
              .tokenizer(tok)
              .prompts(prompts)
              .labeller(web)
              .store(store)
              .checkpointDir(o.out().resolve("checkpoints"))
              .listener(new StatusListener(web))
              .build()) {
        onReady.accept(server.uri());
        List<RoundReport> reports = new ArrayList<>();
        while (loop.completedRounds() < cfg.rounds()) {
          web.setStatus(web.status().withStage("Round " + loop.completedRounds() + ": the policy is waiting for your rankings"));
          reports.add(loop.runRound());
        }
        web.setStatus(web.status().withStage("Done: all rounds are complete"));
        return reports;
      }
    }
  }

  /** Shows the training's progress on the page: the stage, the reward model's accuracy and PPO's score. */
  static final class StatusListener implements TrainingListener {
    private final WebLabeller web;
    private double accuracy = Double.NaN;

    StatusListener(WebLabeller web) {
      this.web = web;
    }

    @Override
    public void onStart(String phase, long totalSteps) {
      String stage = phase.equals(RewardTrainer.PHASE) ? "Training the reward model on your rankings" : "Improving the policy with PPO";
      web.setStatus(web.status().withStage(stage));
    }

    @Override
    public void onStep(Metrics m) {
      if (m.phase().equals(RewardTrainer.PHASE)) {
        double a = m.value("accuracy");
        accuracy = Double.isNaN(accuracy) ? a : 0.8 * accuracy + 0.2 * a;
        web.setStatus(web.status().withRewardModelAccuracy(Math.max(0, Math.min(1, accuracy))));
      } else if (m.phase().equals(PpoTrainer.PHASE)) {
        web.setStatus(web.status().withPpoScore(m.value("objective/scores")));
      }
    }
  }
}
