package org.rlhf4j.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableMap;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.TransformerRewardModel;

/**
 * The stage cache of the quick-start ({@code --reuse DIR}): the tokenizer, the SFT model and the two
 * reward models of a finished run in {@code DIR} (its {@code tokenizer.json}, {@code
 * checkpoints/sft}, {@code checkpoints/reward}, {@code checkpoints/gold-reward} and {@code
 * summary.json}), so that PPO and the evaluation can be re-run in a minute or two without
 * pre-training, SFT and reward-model training.
 *
 * <p>The data split (which review sentences are held out, which openings are PPO, tracking and
 * evaluation prompts) is made with the cached run's seed ({@link #dataSeed}), so that the reward
 * models never score sentences they were trained on; the new run's {@code --seed} sets PPO's and the
 * evaluation's random numbers. The earlier stages' metrics are replayed from {@code
 * DIR/metrics.jsonl} and their checkpoints copied, so the new output directory has every file of a
 * full run; with the cached run's seed the new run's numbers equal a full run's.
 *
 * <p>With {@code includeRewardModels} false (the knob {@code -Drlhf4j.quickstart.reuseStages=sft}),
 * only the tokenizer, the pre-trained and the SFT model are reused and the reward models are trained
 * anew (for reward-model experiments).
 */
final class StageCache {
  /** The phases of the cached stages (in {@code metrics.jsonl}). */
  static final List<String> PHASES = List.of("pretrain", "sft", "reward", "gold-reward");

  /** The checkpoints copied from the cached run (the phases' names). */
  static final List<String> CHECKPOINTS = PHASES;

  final Path dir;
  private final boolean includeRewardModels;
  final long dataSeed;
  final String preset;
  final double pretrainPerplexity;
  final double sftPerplexity;
  final double proxyAccuracy;
  final double goldAccuracy;
  /** The cached stages' metrics, in the order written: kind ("train", "eval", "summary") and metrics. */
  private final List<Map.Entry<String, Metrics>> records;

  private StageCache(Path dir, boolean includeRewardModels, long dataSeed, String preset, double pretrainPpl, double sftPpl, double proxyAcc, double goldAcc,
      List<Map.Entry<String, Metrics>> records) {
    this.dir = dir;
    this.includeRewardModels = includeRewardModels;
    this.dataSeed = dataSeed;
    this.preset = preset;
    this.pretrainPerplexity = pretrainPpl;
    this.sftPerplexity = sftPpl;
    this.proxyAccuracy = proxyAcc;
    this.goldAccuracy = goldAcc;
    this.records = records;
  }

  /**
   * Opens the finished run in {@code dir} (reads its summary and the earlier stages' metrics into
   * memory, so that {@code dir} may also be the new run's output directory).
   *
   * @throws IllegalArgumentException if a file is missing, or the run was made with another preset
   */
  static StageCache open(Path dir, Preset preset) {
    return open(dir, preset, true);
  }

  /** As {@link #open(Path, Preset)}; without the reward models when {@code includeRewardModels} is false. */
  static StageCache open(Path dir, Preset preset, boolean includeRewardModels) {
    List<String> phases = includeRewardModels ? PHASES : List.of("pretrain", "sft");
    Path summary = dir.resolve("summary.json");
    for (Path f : List.of(summary, dir.resolve("tokenizer.json"), dir.resolve("metrics.jsonl"))) {
      Preconditions.checkArgument(Files.isRegularFile(f), "--reuse %s: %s is missing (the directory must hold a finished quick-start run)", dir, f);
    }
    for (String c : phases) {
      Preconditions.checkArgument(ModelCheckpoint.isCheckpoint(dir.resolve("checkpoints").resolve(c)), "--reuse %s: no checkpoint in %s", dir, dir.resolve("checkpoints").resolve(c));
    }
    ObjectMapper json = new ObjectMapper();
    JsonNode s;
    try {
      s = json.readTree(summary.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + summary, e);
    }
    String cachedPreset = text(s, "preset", summary);
    Preconditions.checkArgument(cachedPreset.equals(preset.name().toLowerCase(Locale.ROOT)), "--reuse %s: the run was made with preset %s, not %s", dir, cachedPreset,
        preset.name().toLowerCase(Locale.ROOT));
    long dataSeed = s.has("data_seed") ? number(s, "data_seed", summary).longValue() : number(s, "seed", summary).longValue();
    List<Map.Entry<String, Metrics>> records = new ArrayList<>();
    Path metrics = dir.resolve("metrics.jsonl");
    int lineNo = 0;
    try {
      for (String line : Files.readAllLines(metrics, StandardCharsets.UTF_8)) {
        lineNo++;
        if (line.isBlank()) {
          continue;
        }
        JsonNode n = json.readTree(line);
        String phase = n.path("phase").asText();
        if (!phases.contains(phase)) {
          continue;
        }
        ImmutableMap.Builder<String, Double> values = ImmutableMap.builder();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          if (Set.of("phase", "kind", "step").contains(e.getKey())) {
            continue;
          }
          // Non-finite values are written as strings ("NaN", "Infinity").
          values.put(e.getKey(), e.getValue().isNumber() ? e.getValue().asDouble() : Double.parseDouble(e.getValue().asText()));
        }
        Metrics m = new Metrics(phase, n.path("step").asLong(), values.build());
        String kind = n.path("kind").asText();
        if (!Set.of("train", "eval", "summary").contains(kind)) {
          throw new IllegalArgumentException(metrics + " line " + lineNo + ": unknown kind " + n.path("kind"));
        }
        records.add(Map.entry(kind, m));
      }
    } catch (IOException | NumberFormatException e) {
      throw new IllegalArgumentException(metrics + " line " + lineNo + ": " + e.getMessage(), e);
    }
    return new StageCache(dir, includeRewardModels, dataSeed, cachedPreset, number(s, "pretrain_perplexity", summary), number(s, "sft_perplexity", summary), number(s, "proxy_accuracy", summary),
        number(s, "gold_accuracy", summary), records);
  }

  /** The cached run's tokenizer. */
  Gpt2BpeTokenizer tokenizer() {
    return Gpt2BpeTokenizer.fromTokenizerJson(dir.resolve("tokenizer.json"));
  }

  /** Whether the reward models are reused (else they are trained anew). */
  boolean includesRewardModels() {
    return includeRewardModels;
  }

  /** The cached pre-trained model. */
  GptModel pretrain(ModelOptions mo) {
    return ModelCheckpoint.load(dir.resolve("checkpoints/pretrain"), mo).model();
  }

  /** The cached SFT model. */
  GptModel sft(ModelOptions mo) {
    return ModelCheckpoint.load(dir.resolve("checkpoints/sft"), mo).model();
  }

  /** A cached reward model ({@code reward} is the proxy, {@code gold-reward} the gold model), with its normalisation. */
  TransformerRewardModel rewardModel(String name, ModelOptions mo) {
    return TransformerRewardModel.load(dir.resolve("checkpoints").resolve(name), mo);
  }

  /** Replays the cached stages' metrics (steps, evaluations and ends, in the order written) to {@code listener}. */
  void replay(TrainingListener listener) {
    for (Map.Entry<String, Metrics> r : records) {
      switch (r.getKey()) {
        case "train" -> listener.onStep(r.getValue());
        case "eval" -> listener.onEvaluation(r.getValue());
        default -> listener.onEnd(r.getValue());
      }
    }
  }

  /** Copies the tokenizer and the cached checkpoints into {@code out} (nothing when {@code out} is the cached directory). */
  void copyTo(Path out) throws IOException {
    if (Files.isSameFile(dir, out)) {
      return;
    }
    Files.copy(dir.resolve("tokenizer.json"), out.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
    for (String c : includeRewardModels ? CHECKPOINTS : List.of("pretrain", "sft")) {
      Path from = dir.resolve("checkpoints").resolve(c);
      Path to = out.resolve("checkpoints").resolve(c);
      Path tmp = out.resolve("checkpoints").resolve(c + ".tmp");
      deleteTree(tmp);
      Files.createDirectories(tmp);
      try (Stream<Path> files = Files.list(from)) {
        for (Path f : files.filter(Files::isRegularFile).toList()) {
          Files.copy(f, tmp.resolve(f.getFileName()));
        }
      }
      deleteTree(to);
      Files.move(tmp, to, StandardCopyOption.ATOMIC_MOVE);
    }
  }

  private static void deleteTree(Path d) throws IOException {
    if (!Files.exists(d)) {
      return;
    }
    try (Stream<Path> files = Files.list(d)) {
      for (Path f : files.toList()) {
        Files.delete(f);
      }
    }
    Files.delete(d);
  }

  private static String text(JsonNode n, String field, Path file) {
    Preconditions.checkArgument(n.path(field).isTextual(), "%s: field \"%s\" is missing or not a string", file, field);
    return n.get(field).asText();
  }

  private static Double number(JsonNode n, String field, Path file) {
    JsonNode v = n.path(field);
    if (v.isTextual()) {
      try {
        return Double.parseDouble(v.asText()); // non-finite numbers are written as strings
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(file + ": field \"" + field + "\" is not a number: " + v);
      }
    }
    Preconditions.checkArgument(v.isNumber(), "%s: field \"%s\" is missing or not a number", file, field);
    return v.asDouble();
  }
}
