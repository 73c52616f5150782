package org.rlhf4j.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.common.base.Preconditions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.ToDoubleFunction;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.io.AtomicFiles;
import org.rlhf4j.core.tensor.CpuBackend;

/**
 * Runs the quick-start for several seeds and reports the headline metrics as mean ± standard
 * deviation over seeds, with each seed's value: a single seed's PPO result at this scale is
 * dominated by noise (a float-rounding difference changes the trajectory), so the robust measure is
 * a mean over seeds.
 *
 * <p>Each seed runs into {@code OUT/seed-S} (a complete quick-start output directory); the report
 * is aggregated from the runs' {@code summary.json} files into {@code OUT/seeds-summary.json} and
 * {@code OUT/seeds-summary.txt}. {@code --jobs P} runs P seeds at a time, each in its own JVM
 * process (with {@code --threads} threads each, so P × threads should not exceed the cores); {@code
 * --aggregate} only aggregates the {@code seed-*} runs already in {@code OUT} (e.g. made by separate
 * {@code QuickStart --seed S --out OUT/seed-S} processes on several machines).
 *
 * <p>Options: {@code --seeds 1,2,3} or {@code --seeds 1..8} (default 1..4), {@code --out DIR}
 * (default {@code rlhf-output/quickstart-seeds}), {@code --preset tiny|small}, {@code --threads N}
 * (per run, default 2), {@code --jobs P} (default 1: in this process, one after the other), {@code
 * --reuse DIR} (every seed reuses the tokenizer, SFT and reward models of the finished run in DIR,
 * so only PPO and the evaluation vary: the spread of PPO alone), {@code --aggregate}. System
 * properties {@code rlhf4j.quickstart.*} (tuning knobs) are passed on to the runs.
 */
public final class QuickStartSeeds {
  /** The options; {@code reuse} may be null (no stage cache). */
  public record Options(List<Long> seeds, Path out, Preset preset, int threads, int jobs, Path reuse, boolean aggregateOnly) {
    /** Checks the values. */
    public Options {
      Preconditions.checkArgument(!seeds.isEmpty(), "at least one seed is needed");
      Preconditions.checkArgument(seeds.stream().distinct().count() == seeds.size(), "seeds must be distinct, got %s", seeds);
      Preconditions.checkArgument(threads >= 1, "threads must be at least 1, got %s", threads);
      Preconditions.checkArgument(jobs >= 1, "jobs must be at least 1, got %s", jobs);
      seeds = List.copyOf(seeds);
    }

    /** Seeds 1..4 into {@code rlhf-output/quickstart-seeds}, SMALL preset, 2 threads, one job. */
    public static Options defaults() {
      return new Options(List.of(1L, 2L, 3L, 4L), Path.of("rlhf-output", "quickstart-seeds"), Preset.SMALL, 2, 1, null, false);
    }

    /** Parses the command line (see the class documentation). */
    public static Options parse(String[] args) {
      Options o = defaults();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        if (a.equals("--aggregate")) {
          o = new Options(o.seeds, o.out, o.preset, o.threads, o.jobs, o.reuse, true);
          continue;
        }
        if (i + 1 >= args.length) {
          throw new IllegalArgumentException("option " + a + " needs a value");
        }
        String v = args[++i];
        switch (a) {
          case "--seeds" -> o = new Options(parseSeeds(v), o.out, o.preset, o.threads, o.jobs, o.reuse, o.aggregateOnly);
          case "--out" -> o = new Options(o.seeds, Path.of(v), o.preset, o.threads, o.jobs, o.reuse, o.aggregateOnly);
          case "--preset" -> o = new Options(o.seeds, o.out, QuickStart.Options.parsePreset(v), o.threads, o.jobs, o.reuse, o.aggregateOnly);
          case "--threads" -> o = new Options(o.seeds, o.out, o.preset, (int) QuickStart.Options.parseLong(a, v), o.jobs, o.reuse, o.aggregateOnly);
          case "--jobs" -> o = new Options(o.seeds, o.out, o.preset, o.threads, (int) QuickStart.Options.parseLong(a, v), o.reuse, o.aggregateOnly);
          case "--reuse" -> o = new Options(o.seeds, o.out, o.preset, o.threads, o.jobs, Path.of(v), o.aggregateOnly);
          default -> throw new IllegalArgumentException(
              "unknown option " + a + " (known: --seeds 1,2,3 or 1..8, --out DIR, --preset tiny|small, --threads N, --jobs P, --reuse DIR, --aggregate)");
        }
      }
      return o;
    }

    /** {@code "1,2,5"} or {@code "1..8"} (inclusive). */
    static List<Long> parseSeeds(String v) {
      List<Long> out = new ArrayList<>();
      try {
        for (String part : v.split(",")) {
          String t = part.trim();
          int dots = t.indexOf("..");
          if (dots >= 0) {
            long from = Long.parseLong(t.substring(0, dots).trim());
            long to = Long.parseLong(t.substring(dots + 2).trim());
            Preconditions.checkArgument(from <= to && to - from < 10_000, "--seeds: bad range %s", t);
            for (long s = from; s <= to; s++) {
              out.add(s);
            }
          } else {
            out.add(Long.parseLong(t));
          }
        }
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--seeds needs whole numbers such as 1,2,3 or 1..8, got " + v);
      }
      return out;
    }
  }

  /** One metric over the seeds: mean, sample standard deviation, min, max and each seed's value (seed order). */
  public record Stat(String name, double mean, double std, double min, double max, double[] values) {}

  /** The report: the seeds, their run directories, and each metric's statistics (in the order of {@link #METRICS}). */
  public record Report(List<Long> seeds, List<Path> runs, Map<String, Stat> stats, Map<String, Integer> passes) {
    /** The statistics of {@code metric}. */
    public Stat stat(String metric) {
      Stat s = stats.get(metric);
      Preconditions.checkArgument(s != null, "no metric %s (known: %s)", metric, stats.keySet());
      return s;
    }
  }

  /**
   * The metrics reported, read from each run's {@code summary.json}: name and how it is computed.
   * {@code ppo_final_gold_gain_std} is the last PPO step's gold gain (the best checkpoint's is
   * {@code ppo_gold_gain_std}).
   */
  static final Map<String, ToDoubleFunction<JsonNode>> METRICS = metrics();

  private static Map<String, ToDoubleFunction<JsonNode>> metrics() {
    Map<String, ToDoubleFunction<JsonNode>> m = new LinkedHashMap<>();
    m.put("ppo_gold_gain_std", n -> num(n, "ppo_gold_gain_std"));
    m.put("ppo_final_gold_gain_std", n -> (num(n, "ppo_final_gold") - num(n, "sft_gold")) / num(n, "sft_gold_std"));
    m.put("best_of_16_gold_gain_std", n -> (num(n, "best_of_16_gold") - num(n, "sft_gold")) / num(n, "sft_gold_std"));
    m.put("win_rate_ppo_vs_sft", n -> num(n, "win_rate_ppo_vs_sft"));
    m.put("win_rate_ppo_vs_best_of_16", n -> num(n, "win_rate_ppo_vs_best_of_16"));
    m.put("proxy_accuracy", n -> num(n, "proxy_accuracy"));
    m.put("gold_accuracy", n -> num(n, "gold_accuracy"));
    m.put("ppo_kl", n -> num(n, "ppo_kl"));
    m.put("ppo_final_kl", n -> num(n, "ppo_final_kl"));
    m.put("known_word_fraction", n -> num(n, "known_word_fraction"));
    m.put("ppo_best_step", n -> num(n, "ppo_best_step"));
    m.put("pretrain_perplexity", n -> num(n, "pretrain_perplexity"));
    m.put("sft_perplexity", n -> num(n, "sft_perplexity"));
    m.put("seconds", n -> num(n, "seconds"));
    return m;
  }

  private QuickStartSeeds() {}

  /** Runs the seeds (or only aggregates them) and writes the report; prints the table unless asked not to. */
  public static void main(String[] args) throws Exception {
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
    Report r = run(o);
    System.out.print(table(r));
  }

  /** Runs every seed not yet finished (unless {@code aggregateOnly}), then aggregates and writes the report. */
  public static Report run(Options o) throws IOException, InterruptedException {
    Files.createDirectories(o.out());
    List<Path> runs = new ArrayList<>();
    for (long s : o.seeds()) {
      runs.add(o.out().resolve("seed-" + s));
    }
    if (!o.aggregateOnly()) {
      if (o.jobs() == 1) {
        for (int i = 0; i < runs.size(); i++) {
          QuickStart.Options qo = new QuickStart.Options(o.seeds().get(i), runs.get(i), o.preset(), null, o.threads(), true, o.reuse());
          QuickStart.run(qo);
        }
      } else {
        runInProcesses(o, runs);
      }
    } else {
      List<Path> found = new ArrayList<>();
      for (Path r : runs) {
        if (Files.isRegularFile(r.resolve("summary.json"))) {
          found.add(r);
        }
      }
      Preconditions.checkArgument(!found.isEmpty(), "--aggregate: no seed-S/summary.json in %s for seeds %s", o.out(), o.seeds());
      runs = found;
    }
    Report report = aggregate(runs);
    write(o.out(), report);
    return report;
  }

  /** Runs each seed in its own JVM, {@code o.jobs()} at a time; logs go to {@code OUT/seed-S.log}. */
  private static void runInProcesses(Options o, List<Path> runs) throws IOException, InterruptedException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ExecutorService pool = Executors.newFixedThreadPool(o.jobs());
    try {
      List<Future<Integer>> done = new ArrayList<>();
      for (int i = 0; i < runs.size(); i++) {
        long seed = o.seeds().get(i);
        Path dir = runs.get(i);
        List<String> cmd = new ArrayList<>(List.of(java));
        Runtime rt = Runtime.getRuntime();
        cmd.add("-Xmx" + Math.max(1024, Math.min(8192, rt.maxMemory() / (1 << 20))) + "m");
        for (String k : System.getProperties().stringPropertyNames()) {
          if (k.startsWith("rlhf4j.") || k.startsWith("org.slf4j.")) {
            cmd.add("-D" + k + "=" + System.getProperty(k));
          }
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), QuickStart.class.getName(), "--seed", Long.toString(seed), "--out", dir.toString(), "--preset",
            o.preset().name().toLowerCase(Locale.ROOT), "--threads", Integer.toString(o.threads()), "--quiet"));
        if (o.reuse() != null) {
          cmd.addAll(List.of("--reuse", o.reuse().toString()));
        }
        Path log = o.out().resolve("seed-" + seed + ".log");
        done.add(pool.submit(() -> {
          ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
          pb.environment().put("OMP_NUM_THREADS", "1");
          return pb.start().waitFor();
        }));
      }
      List<String> failed = new ArrayList<>();
      for (int i = 0; i < done.size(); i++) {
        int rc;
        try {
          rc = done.get(i).get();
        } catch (java.util.concurrent.ExecutionException e) {
          throw new IOException("seed " + o.seeds().get(i) + ": cannot start the run: " + e.getCause().getMessage(), e.getCause());
        }
        if (rc != 0) {
          failed.add("seed " + o.seeds().get(i) + " (exit " + rc + ", see " + o.out().resolve("seed-" + o.seeds().get(i) + ".log") + ")");
        }
      }
      if (!failed.isEmpty()) {
        throw new IOException("runs failed: " + String.join(", ", failed));
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Aggregates the {@code summary.json} of each run directory (in the order given). */
  public static Report aggregate(List<Path> runs) {
    Preconditions.checkArgument(!runs.isEmpty(), "no runs to aggregate");
    ObjectMapper json = new ObjectMapper();
    List<JsonNode> summaries = new ArrayList<>();
    List<Long> seeds = new ArrayList<>();
    for (Path r : runs) {
      Path f = r.resolve("summary.json");
      try {
        JsonNode n = json.readTree(f.toFile());
        Preconditions.checkArgument(n != null && n.isObject(), "%s: not a JSON object", f);
        seeds.add(n.path("seed").asLong());
        summaries.add(n);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + f, e);
      }
    }
    Map<String, Stat> stats = new LinkedHashMap<>();
    for (Map.Entry<String, ToDoubleFunction<JsonNode>> e : METRICS.entrySet()) {
      double[] v = new double[summaries.size()];
      for (int i = 0; i < v.length; i++) {
        try {
          v[i] = e.getValue().applyAsDouble(summaries.get(i));
        } catch (IllegalArgumentException ex) {
          throw new IllegalArgumentException(runs.get(i).resolve("summary.json") + ": " + ex.getMessage(), ex);
        }
      }
      stats.put(e.getKey(), stat(e.getKey(), v));
    }
    Map<String, Integer> passes = new LinkedHashMap<>();
    passes.put("gold gain >= 0.5", count(stats.get("ppo_gold_gain_std").values(), x -> x >= 0.5));
    passes.put("proxy accuracy >= 0.80", count(stats.get("proxy_accuracy").values(), x -> x >= 0.80));
    passes.put("final KL <= 8", count(stats.get("ppo_final_kl").values(), x -> x <= 8));
    passes.put("real words >= 95 %", count(stats.get("known_word_fraction").values(), x -> x >= 0.95));
    passes.put("PPO beats SFT (win rate > 50 %)", count(stats.get("win_rate_ppo_vs_sft").values(), x -> x > 0.5));
    passes.put("PPO beats best-of-16 (win rate > 50 %)", count(stats.get("win_rate_ppo_vs_best_of_16").values(), x -> x > 0.5));
    return new Report(List.copyOf(seeds), List.copyOf(runs), stats, passes);
  }

  static Stat stat(String name, double[] v) {
    double mean = Arrays.stream(v).average().orElse(Double.NaN);
    double std = v.length < 2 ? 0 : Math.sqrt(Arrays.stream(v).map(x -> (x - mean) * (x - mean)).sum() / (v.length - 1));
    return new Stat(name, mean, std, Arrays.stream(v).min().orElse(Double.NaN), Arrays.stream(v).max().orElse(Double.NaN), v.clone());
  }

  private static int count(double[] v, java.util.function.DoublePredicate p) {
    return (int) Arrays.stream(v).filter(p).count();
  }

  private static double num(JsonNode n, String field) {
    JsonNode v = n.path(field);
    if (v.isNumber()) {
      return v.asDouble();
    }
    if (v.isTextual()) {
      try {
        return Double.parseDouble(v.asText()); // non-finite numbers are written as strings
      } catch (NumberFormatException e) {
        // fall through
      }
    }
    throw new IllegalArgumentException("field \"" + field + "\" is missing or not a number: " + v);
  }

  /** The report as a table: one row per metric (mean ± std, min, max, each seed's value), then the pass counts. */
  public static String table(Report r) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "Quick-start over %d seeds %s (mean ± standard deviation over seeds; min, max; per seed)%n", r.seeds().size(), r.seeds()));
    for (Stat s : r.stats().values()) {
      StringBuilder per = new StringBuilder();
      for (double x : s.values()) {
        per.append(String.format(Locale.ROOT, " %s", fmt(x)));
      }
      sb.append(String.format(Locale.ROOT, "  %-28s %9s ± %-7s  [%s, %s]  %s%n", s.name(), fmt(s.mean()), fmt(s.std()), fmt(s.min()), fmt(s.max()), per.toString().trim()));
    }
    sb.append(String.format(Locale.ROOT, "  seeds meeting the bars:%n"));
    r.passes().forEach((k, v) -> sb.append(String.format(Locale.ROOT, "    %-40s %d of %d%n", k, v, r.seeds().size())));
    return sb.toString();
  }

  private static String fmt(double x) {
    return Math.abs(x) >= 100 ? String.format(Locale.ROOT, "%.1f", x) : String.format(Locale.ROOT, "%.3f", x);
  }

  /** Writes {@code seeds-summary.json} and {@code seeds-summary.txt} into {@code dir}, atomically. */
  static void write(Path dir, Report r) throws IOException {
    ObjectMapper json = new ObjectMapper();
    ObjectNode n = json.createObjectNode();
    ArrayNode seeds = n.putArray("seeds");
    r.seeds().forEach(seeds::add);
    ArrayNode runs = n.putArray("runs");
    r.runs().forEach(p -> runs.add(p.toString()));
    ObjectNode stats = n.putObject("metrics");
    for (Stat s : r.stats().values()) {
      ObjectNode m = stats.putObject(s.name());
      m.put("mean", s.mean());
      m.put("std", s.std());
      m.put("min", s.min());
      m.put("max", s.max());
      ArrayNode v = m.putArray("values");
      Arrays.stream(s.values()).forEach(v::add);
    }
    ObjectNode passes = n.putObject("seeds_meeting_bar");
    r.passes().forEach(passes::put);
    AtomicFiles.writeBytes(dir.resolve("seeds-summary.json"), json.writerWithDefaultPrettyPrinter().writeValueAsBytes(n));
    AtomicFiles.writeBytes(dir.resolve("seeds-summary.txt"), table(r).getBytes(StandardCharsets.UTF_8));
  }
}
