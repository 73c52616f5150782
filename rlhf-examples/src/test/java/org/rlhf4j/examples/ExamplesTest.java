package org.rlhf4j.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.hf.HfGpt2;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.testing.TestData;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;
import org.rlhf4j.ppo.PpoStats;

class ExamplesTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void quickStartTinyWritesEverythingAndIsReproducible(@TempDir Path tmp) throws IOException, InterruptedException {
    TestData.require("sentiment/movie-review-snippets.tsv");
    TestData.require("corpus/tinyshakespeare.txt");
    QuickStart.Result a = QuickStart.run(new QuickStart.Options(7, tmp.resolve("a"), Preset.TINY, null, 2, true));
    Path out = a.out();
    for (String f : List.of("metrics.jsonl", "samples-sft.jsonl", "samples-ppo.jsonl", "samples-best-of-16.jsonl", "summary.txt")) {
      assertTrue(Files.size(out.resolve(f)) > 0, f);
    }
    for (String png : List.of("reward-model.png", "ppo.png", "language-model.png", "overoptimisation.png")) {
      byte[] head = Arrays.copyOf(Files.readAllBytes(out.resolve(png)), 4);
      assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, head, png + " is a PNG");
    }
    // The tokenizer: a Hugging Face tokenizer.json of the trained BPE, the same one every checkpoint carries.
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.fromTokenizerJson(out.resolve("tokenizer.json"));
    assertEquals(768, tok.vocabSize());
    for (String stage : List.of("pretrain", "sft", "reward", "gold-reward", "ppo", "ppo-best")) {
      Path dir = out.resolve("checkpoints").resolve(stage);
      assertTrue(ModelCheckpoint.isCheckpoint(dir), stage);
      Tokenizer saved = Tokenizers.load(dir);
      assertEquals(tok.vocabSize(), saved.vocabSize(), stage);
      assertArrayEquals(tok.encode("A gorgeous, witty film."), saved.encode("A gorgeous, witty film."), stage);
    }
    // GenerateExample samples from the PPO checkpoint with its BPE tokenizer.
    List<String> generated = GenerateExample.run(out.resolve("checkpoints/ppo-best"), "The film is", 2, SamplingConfig.builder().maxNewTokens(8).build(), 1);
    assertEquals(2, generated.size());

    List<JsonNode> ppo = new ArrayList<>();
    List<JsonNode> track = new ArrayList<>();
    for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.get("phase").asText().equals("ppo") && n.get("kind").asText().equals("train")) {
        ppo.add(n);
      }
      if (n.get("phase").asText().equals("track")) {
        track.add(n);
      }
    }
    assertEquals(Preset.TINY.ppoSteps, ppo.size());
    for (String name : List.of("objective/kl", "objective/scores", "objective/rlhf_reward", "policy/approxkl_avg", "policy/clipfrac_avg", "loss/policy_avg", "loss/value_avg", "val/clipfrac_avg", "objective/kl_coef")) {
      assertTrue(ppo.get(0).has(name), name);
    }
    // The adaptive controller starts at INIT_KL_COEF and never goes below it (anti-windup floor).
    double beta0 = ppo.get(0).get("objective/kl_coef").asDouble();
    assertEquals(QuickStart.INIT_KL_COEF, beta0, 1e-12);
    for (JsonNode n : ppo) {
      assertTrue(n.get("objective/kl_coef").asDouble() >= beta0, "beta never below its floor: " + n);
    }
    assertEquals(1 + Preset.TINY.ppoSteps / Preset.TINY.trackEvery, track.size(), "proxy and gold followed at step 0 and every few steps");
    assertEquals(track.size(), a.ppoCurve().size());
    assertTrue(a.bestStep() >= 1 && a.bestStep() <= Preset.TINY.ppoSteps);

    for (String f : List.of("samples-sft.jsonl", "samples-ppo.jsonl", "samples-best-of-16.jsonl")) {
      List<String> samples = Files.readAllLines(out.resolve(f));
      assertEquals(Preset.TINY.evalPrompts, samples.size(), f);
      for (String line : samples) {
        JsonNode s = JSON.readTree(line);
        for (String field : List.of("prompt", "response", "score", "gold", "kl")) {
          assertTrue(s.has(field), f + " has " + field);
        }
        assertTrue(s.get("response").isTextual() && Double.isFinite(s.get("gold").asDouble()), line);
      }
    }
    // Best-of-n: n = 1, 2, 4, 8, 16 at the analytic KL; the proxy's pick can only get better with n.
    assertEquals(5, a.bestOfN().size());
    for (int i = 0; i < 5; i++) {
      QuickStart.CurvePoint c = a.bestOfN().get(i);
      assertEquals(1L << i, c.stepOrN());
      assertEquals(Math.log(1 << i) - ((1 << i) - 1.0) / (1 << i), c.kl(), 1e-12);
      if (i > 0) {
        assertTrue(c.proxy() >= a.bestOfN().get(i - 1).proxy(), "best-of-n proxy score is monotone in n");
      }
    }
    JsonNode wins = JSON.readTree(out.resolve("win-rates.json").toFile());
    assertEquals(2, wins.size());
    assertEquals("sft", wins.get(0).get("b").asText());
    assertEquals("best-of-16", wins.get(1).get("b").asText());
    for (JsonNode w : wins) {
      assertEquals(Preset.TINY.evalPrompts, w.get("n").asInt());
      double rate = w.get("win_rate").asDouble();
      assertTrue(w.get("wilson95_low").asDouble() <= rate && rate <= w.get("wilson95_high").asDouble(), w.toString());
    }
    assertEquals(a.ppoVsSft().rate(), wins.get(0).get("win_rate").asDouble(), 1e-12);
    JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
    assertEquals(a.goldAccuracy(), summary.get("gold_accuracy").asDouble(), 1e-12);
    assertTrue(Files.readString(out.resolve("summary.txt")).contains("win rates judged by the gold model"));
    assertTrue(a.knownWordFraction() > 0 && a.knownWordFraction() <= 1, "known-word fraction " + a.knownWordFraction());
    assertTrue(Double.isFinite(a.rewardAccuracy()) && Double.isFinite(a.ppoScore()) && Double.isFinite(a.ppoKl()) && a.sftGoldStd() > 0);

    QuickStart.Result b = QuickStart.run(new QuickStart.Options(7, tmp.resolve("b"), Preset.TINY, null, 2, true));
    assertEquals(withoutTimes(tmp.resolve("a/metrics.jsonl")), withoutTimes(tmp.resolve("b/metrics.jsonl")), "same seed, same numbers");
    assertEquals(Files.readAllLines(tmp.resolve("a/samples-ppo.jsonl")), Files.readAllLines(tmp.resolve("b/samples-ppo.jsonl")));
    assertEquals(Files.readString(tmp.resolve("a/tokenizer.json")), Files.readString(tmp.resolve("b/tokenizer.json")));
    assertEquals(a.ppoGold(), b.ppoGold(), 0);

    // The stage cache: reusing a's tokenizer, SFT and reward models with a's seed gives a's numbers and every output file.
    QuickStart.Result c = QuickStart.run(new QuickStart.Options(7, tmp.resolve("c"), Preset.TINY, null, 2, true, out));
    assertEquals(withoutTimes(tmp.resolve("a/metrics.jsonl")), withoutTimes(tmp.resolve("c/metrics.jsonl")), "cached stages replayed, PPO identical");
    assertEquals(Files.readAllLines(tmp.resolve("a/samples-ppo.jsonl")), Files.readAllLines(tmp.resolve("c/samples-ppo.jsonl")));
    assertEquals(Files.readAllLines(tmp.resolve("a/samples-best-of-16.jsonl")), Files.readAllLines(tmp.resolve("c/samples-best-of-16.jsonl")));
    assertEquals(Files.readString(tmp.resolve("a/tokenizer.json")), Files.readString(tmp.resolve("c/tokenizer.json")));
    assertEquals(a.pretrainPerplexity(), c.pretrainPerplexity(), 0);
    assertEquals(a.sftPerplexity(), c.sftPerplexity(), 0);
    assertEquals(a.rewardAccuracy(), c.rewardAccuracy(), 0);
    assertEquals(a.goldAccuracy(), c.goldAccuracy(), 0);
    for (String stage : List.of("pretrain", "sft", "reward", "gold-reward", "ppo", "ppo-best")) {
      assertTrue(ModelCheckpoint.isCheckpoint(tmp.resolve("c/checkpoints").resolve(stage)), stage);
    }
    for (String f : List.of("reward-model.png", "language-model.png", "ppo.png", "overoptimisation.png", "win-rates.json", "summary.txt")) {
      assertTrue(Files.size(tmp.resolve("c").resolve(f)) > 0, f);
    }
    JsonNode cs = JSON.readTree(tmp.resolve("c/summary.json").toFile());
    assertEquals(out.toString(), cs.get("stages_reused_from").asText());
    assertEquals(7, cs.get("data_seed").asLong());

    // Another seed on the cached stages: the data split stays the cached run's (data_seed), PPO's random numbers change.
    QuickStart.Result d = QuickStart.run(new QuickStart.Options(8, tmp.resolve("d"), Preset.TINY, null, 2, true, out));
    JsonNode ds = JSON.readTree(tmp.resolve("d/summary.json").toFile());
    assertEquals(7, ds.get("data_seed").asLong());
    assertEquals(8, ds.get("seed").asLong());
    assertEquals(a.sftGold(), Samples.meanGold(readSamples(tmp.resolve("a/samples-sft.jsonl"))), 1e-9);
    assertEquals(prompts(tmp.resolve("a/samples-sft.jsonl")), prompts(tmp.resolve("d/samples-sft.jsonl")), "same held-out evaluation prompts");
    assertTrue(!Files.readAllLines(tmp.resolve("a/samples-ppo.jsonl")).equals(Files.readAllLines(tmp.resolve("d/samples-ppo.jsonl"))), "another PPO seed samples differently");
    assertEquals(a.rewardAccuracy(), d.rewardAccuracy(), 0);

    // The multi-seed report on the cached stages: in this process, then the same seeds in two child processes.
    QuickStartSeeds.Report one = QuickStartSeeds.run(new QuickStartSeeds.Options(List.of(7L, 8L), tmp.resolve("seeds"), Preset.TINY, 2, 1, out, false));
    assertEquals(List.of(7L, 8L), one.seeds());
    QuickStartSeeds.Stat gain = one.stat("ppo_gold_gain_std");
    assertEquals(a.goldGainInStd(), gain.values()[0], 1e-12, "seed 7 on its own cached stages is run a");
    assertEquals(d.goldGainInStd(), gain.values()[1], 1e-12);
    assertEquals((a.goldGainInStd() + d.goldGainInStd()) / 2, gain.mean(), 1e-12);
    assertEquals(Math.abs(a.goldGainInStd() - d.goldGainInStd()) / Math.sqrt(2), gain.std(), 1e-12);
    assertEquals(Math.min(a.ppoKl(), d.ppoKl()), one.stat("ppo_kl").min(), 1e-12);
    assertEquals(Math.max(a.ppoVsSft().rate(), d.ppoVsSft().rate()), one.stat("win_rate_ppo_vs_sft").max(), 1e-12);
    assertEquals((a.finalPpoGold() - a.sftGold()) / a.sftGoldStd(), one.stat("ppo_final_gold_gain_std").values()[0], 1e-9);
    assertEquals((a.ppoGold() >= a.sftGold() + 0.5 * a.sftGoldStd() ? 1 : 0) + (d.goldGainInStd() >= 0.5 ? 1 : 0), one.passes().get("gold gain >= 0.5"));
    JsonNode report = JSON.readTree(tmp.resolve("seeds/seeds-summary.json").toFile());
    assertEquals(gain.mean(), report.get("metrics").get("ppo_gold_gain_std").get("mean").asDouble(), 1e-12);
    assertTrue(Files.readString(tmp.resolve("seeds/seeds-summary.txt")).contains("ppo_gold_gain_std"));
    QuickStartSeeds.Report again = QuickStartSeeds.run(new QuickStartSeeds.Options(List.of(7L, 8L, 9L), tmp.resolve("seeds"), Preset.TINY, 2, 1, null, true));
    assertEquals(List.of(7L, 8L), again.seeds(), "--aggregate reads the finished runs only");
    assertArrayEquals(gain.values(), again.stat("ppo_gold_gain_std").values());
    QuickStartSeeds.Report procs = QuickStartSeeds.run(new QuickStartSeeds.Options(List.of(7L, 8L), tmp.resolve("seeds-procs"), Preset.TINY, 2, 2, out, false));
    assertArrayEquals(gain.values(), procs.stat("ppo_gold_gain_std").values(), "child processes give the same numbers");
    assertTrue(Files.exists(tmp.resolve("seeds-procs/seed-8.log")));
  }

  @Test
  void optionsAreCheckedWithClearMessages() {
    QuickStart.Options o = QuickStart.Options.parse(new String[] {"--reuse", "x", "--seed", "3", "--threads", "1"});
    assertEquals(Path.of("x"), o.reuse());
    assertEquals(3, o.seed());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> QuickStart.Options.parse(new String[] {"--reuse", "x", "--model", "y"}));
    assertTrue(e.getMessage().contains("--model and --reuse"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> QuickStart.Options.parse(new String[] {"--seed", "abc"}));
    assertTrue(e.getMessage().contains("--seed") && e.getMessage().contains("abc"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> QuickStart.Options.parse(new String[] {"--preset", "huge"}));
    assertTrue(e.getMessage().contains("huge"), e.getMessage());
    assertEquals(List.of(1L, 2L, 3L, 7L), QuickStartSeeds.Options.parseSeeds("1..3,7"));
    e = assertThrows(IllegalArgumentException.class, () -> QuickStartSeeds.Options.parseSeeds("1,x"));
    assertTrue(e.getMessage().contains("1,x"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> QuickStartSeeds.Options.parse(new String[] {"--seeds", "2,2"}));
    assertTrue(e.getMessage().contains("distinct"), e.getMessage());
    QuickStartSeeds.Options so = QuickStartSeeds.Options.parse(new String[] {"--seeds", "4..5", "--jobs", "2", "--aggregate"});
    assertEquals(List.of(4L, 5L), so.seeds());
    assertTrue(so.aggregateOnly() && so.jobs() == 2);
  }

  @Test
  void stageCacheSaysWhatIsMissing(@TempDir Path tmp) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StageCache.open(tmp, Preset.TINY));
    assertTrue(e.getMessage().contains("summary.json") && e.getMessage().contains(tmp.toString()), e.getMessage());
  }

  private static List<Samples.Sample> readSamples(Path file) throws IOException {
    List<Samples.Sample> out = new ArrayList<>();
    for (String line : Files.readAllLines(file)) {
      JsonNode n = JSON.readTree(line);
      out.add(new Samples.Sample(n.get("prompt").asText(), n.get("response").asText(), n.get("score").asDouble(), n.get("gold").asDouble(), n.get("kl").asDouble()));
    }
    return out;
  }

  private static List<String> prompts(Path file) throws IOException {
    List<String> out = new ArrayList<>();
    for (String line : Files.readAllLines(file)) {
      out.add(JSON.readTree(line).get("prompt").asText());
    }
    return out;
  }

  @Test
  void knownWordsIgnorePunctuationAndCase() {
    List<Samples.Sample> s = List.of(new Samples.Sample("p", " The film, \"Wonderful\" -- zzqx!", 0, 0, 0));
    assertEquals(0.75, QuickStart.knownWordFraction(List.of("the FILM was wonderful."), s), 1e-12, "the, film, wonderful known; zzqx not; -- skipped");
  }

  private static List<String> withoutTimes(Path metrics) throws IOException {
    List<String> out = new ArrayList<>();
    for (String line : Files.readAllLines(metrics)) {
      JsonNode n = JSON.readTree(line);
      Iterator<String> it = n.fieldNames();
      List<String> drop = new ArrayList<>();
      it.forEachRemaining(f -> {
        if (f.startsWith("time/") || f.equals("tokens_per_second") || f.equals("train_runtime")) {
          drop.add(f);
        }
      });
      drop.forEach(((com.fasterxml.jackson.databind.node.ObjectNode) n)::remove);
      out.add(n.toString());
    }
    return out;
  }

  @Test
  void missingSharedDataSaysWhichFileAndWhere(@TempDir Path empty) {
    String old = System.getProperty("rlhf4j.data");
    System.setProperty("rlhf4j.data", empty.toString());
    try {
      RlhfException e = assertThrows(RlhfException.class, () -> QuickStart.run(new QuickStart.Options(1, empty.resolve("o"), Preset.TINY, null, 1, true)));
      assertTrue(e.getMessage().contains("sentiment/movie-review-snippets.tsv") && e.getMessage().contains("../shared/data"), e.getMessage());
    } finally {
      if (old == null) {
        System.clearProperty("rlhf4j.data");
      } else {
        System.setProperty("rlhf4j.data", old);
      }
    }
  }

  @Test
  void dpoExampleTinyTrainsWritesMetricsAndCheckpoints(@TempDir Path tmp) throws IOException {
    TestData.require("sentiment/movie-review-snippets.tsv");
    DpoExample.Result r = DpoExample.run(new DpoExample.Options(7, tmp, Preset.TINY, 2, true));
    assertEquals(DpoExample.Size.of(Preset.TINY).rewardSteps(), r.dpo().steps());
    assertTrue(ModelCheckpoint.isCheckpoint(tmp.resolve("checkpoints/sft")) && ModelCheckpoint.isCheckpoint(tmp.resolve("checkpoints/dpo")));
    List<JsonNode> dpo = new ArrayList<>();
    for (String line : Files.readAllLines(tmp.resolve("metrics.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.get("phase").asText().equals("dpo") && n.get("kind").asText().equals("train")) {
        dpo.add(n);
      }
    }
    assertEquals(DpoExample.Size.of(Preset.TINY).rewardSteps(), dpo.size());
    for (String name : List.of("loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected")) {
      assertTrue(dpo.get(0).has(name), name);
    }
    double before = r.dpo().initialEval().get().margin();
    double after = r.dpo().finalEval().get().margin();
    System.out.printf("DPO example (tiny): held-out implicit-reward accuracy %.3f, margin %.3f -> %.3f on %d pairs; %d steps in %.1f s%n",
        r.heldOutAccuracy(), before, after, r.dpo().finalEval().get().pairs(), r.dpo().steps(), r.dpo().seconds());
    assertTrue(Double.isFinite(r.heldOutAccuracy()) && after > before,
        "held-out implicit-reward margin should grow: " + before + " -> " + after + ", accuracy " + r.heldOutAccuracy());
  }

  @Test
  void embeddingExampleLearnsItsRule() {
    List<PpoStats> s = EmbeddingExample.run(20, 3);
    assertEquals(20, s.size());
    double first = (s.get(0).meanScore() + s.get(1).meanScore() + s.get(2).meanScore()) / 3;
    double last = (s.get(17).meanScore() + s.get(18).meanScore() + s.get(19).meanScore()) / 3;
    assertTrue(last > first + 3, "the application's reward (lowercase letters, of 12) should rise: " + first + " -> " + last);
  }

  @Test
  void grpoAndRlooExamplesRaiseTheApplicationsReward() {
    for (boolean rloo : new boolean[] {false, true}) {
      List<org.rlhf4j.ppo.GrpoStats> s = GrpoExample.run(15, 3, rloo);
      assertEquals(15, s.size());
      double first = (s.get(0).get("objective/scores") + s.get(1).get("objective/scores")) / 2;
      double last = (s.get(13).get("objective/scores") + s.get(14).get("objective/scores")) / 2;
      System.out.printf("GrpoExample (%s): lowercase letters (of 12) %.2f -> %.2f%n", rloo ? "rloo" : "grpo", first, last);
      assertTrue(last > first + 2, (rloo ? "RLOO" : "GRPO") + ": the application's reward (lowercase letters, of 12) should rise: "
          + first + " -> " + last);
    }
  }

  @Test
  void generateExampleReadsAHuggingFaceGpt2Directory(@TempDir Path tmp) {
    Tokenizer tok = Gpt2BpeTokenizer.fromDirectory(TestData.require("gpt2/encoder.json").getParent());
    GptConfig c = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(8).heads(2).layers(1).contextLength(24).build();
    HfGpt2.export(GptModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, 1)), tok, tmp.resolve("gpt2"));
    List<String> out = GenerateExample.run(tmp.resolve("gpt2"), "Hello world", 2, SamplingConfig.builder().maxNewTokens(40).build(), 3);
    assertEquals(2, out.size());
    assertTrue(out.get(0).length() > 0);
  }

  @Test
  void generateExampleSamplesFromACheckpoint(@TempDir Path tmp) {
    ByteTokenizer tok = ByteTokenizer.create();
    GptConfig c = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(16).heads(2).layers(1).contextLength(32).build();
    ModelCheckpoint.save(tmp.resolve("m"), GptModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, 1)), Provenance.of("random-init", 1, Map.of(), null), Map.of(), tok);
    SamplingConfig cfg = SamplingConfig.builder().temperature(0.8).topP(0.9).maxNewTokens(100).build();
    List<String> a = GenerateExample.run(tmp.resolve("m"), "Hello", 3, cfg, 5);
    List<String> b = GenerateExample.run(tmp.resolve("m"), "Hello", 3, cfg, 5);
    assertEquals(3, a.size());
    assertEquals(a, b, "same seed, same samples");
    assertTrue(a.stream().anyMatch(x -> !x.isEmpty()));
  }
}
