package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TRL's completions table: every {@code every} PPO steps, the first {@code rows} sampled
 * completions of the step (prompt, response, score, KL) as a text table — to the log, to any
 * line consumer — or, with {@link #jsonl}, every completion of those steps appended to a JSON Lines
 * file ({@code {"step", "prompt", "response", "score", "reward", "kl", "eos"}}, flushed per step).
 * Register with {@link PpoTrainer.Builder#stepListener}.
 */
public final class CompletionsTable implements PpoStepListener, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(CompletionsTable.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Columns of the text table are cut to this many characters. */
  static final int WIDTH = 40;

  private final int every;
  private final int rows;
  private final Consumer<String> lines; // null for the JSONL form
  private final Path file;
  private final BufferedWriter out;

  private CompletionsTable(int every, int rows, Consumer<String> lines, Path file) {
    checkArgument(every >= 1, "every must be >= 1, got %s", every);
    checkArgument(rows >= 1, "rows must be >= 1, got %s", rows);
    this.every = every;
    this.rows = rows;
    this.lines = lines;
    this.file = file;
    try {
      if (file != null && file.toAbsolutePath().getParent() != null) {
        Files.createDirectories(file.toAbsolutePath().getParent());
      }
      this.out = file == null
          ? null
          : Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open completions file " + file, e);
    }
  }

  /** Logs (SLF4J, INFO, logger {@code org.rlhf4j.ppo.CompletionsTable}) a table of {@code rows} completions every {@code every} steps. */
  public static CompletionsTable logging(int every, int rows) {
    return new CompletionsTable(every, rows, LOG::info, null);
  }

  /** Gives the table's lines to {@code lines} (e.g. {@code System.out::println}). */
  public static CompletionsTable to(Consumer<String> lines, int every, int rows) {
    return new CompletionsTable(every, rows, checkNotNull(lines, "lines"), null);
  }

  /** Appends every completion of every {@code every}-th step to {@code file} (created, or appended to). */
  public static CompletionsTable jsonl(Path file, int every) {
    return new CompletionsTable(every, Integer.MAX_VALUE, null, checkNotNull(file, "file"));
  }

  @Override
  public void onPpoStep(PpoStats stats) {
    if (stats.step() % every != 0) {
      return;
    }
    List<ScoredCompletion> c = stats.completions();
    if (out != null) {
      writeJson(stats.step(), c);
    } else {
      lines.accept(format(stats.step(), c.subList(0, Math.min(rows, c.size()))));
    }
  }

  /** The text table of {@code completions} of step {@code step}. */
  public static String format(long step, List<ScoredCompletion> completions) {
    String rule = "+" + "-".repeat(WIDTH + 2) + "+" + "-".repeat(WIDTH + 2) + "+" + "-".repeat(10) + "+" + "-".repeat(8) + "+";
    StringBuilder sb = new StringBuilder();
    sb.append("completions at step ").append(step).append('\n').append(rule).append('\n');
    sb.append(String.format(Locale.ROOT, "| %-" + WIDTH + "s | %-" + WIDTH + "s | %8s | %6s |%n", "prompt", "response", "score", "kl"));
    sb.append(rule).append('\n');
    for (ScoredCompletion sc : completions) {
      sb.append(String.format(Locale.ROOT, "| %-" + WIDTH + "s | %-" + WIDTH + "s | %8.3f | %6.2f |%n", cell(sc.prompt()), cell(sc.response()), sc.score(), sc.kl()));
    }
    return sb.append(rule).toString();
  }

  /** {@code text} on one line (control characters shown as escapes), cut to {@link #WIDTH}. */
  static String cell(String text) {
    StringBuilder sb = new StringBuilder();
    text.codePoints().forEach(cp -> {
      if (cp == '\n') {
        sb.append("\\n");
      } else if (cp == '\t') {
        sb.append("\\t");
      } else if (Character.isISOControl(cp)) {
        sb.append(String.format(Locale.ROOT, "\\u%04x", cp));
      } else {
        sb.appendCodePoint(cp);
      }
    });
    if (sb.codePointCount(0, sb.length()) <= WIDTH) {
      return sb.toString();
    }
    return sb.substring(0, sb.offsetByCodePoints(0, WIDTH - 1)) + "…";
  }

  private void writeJson(long step, List<ScoredCompletion> c) {
    try {
      for (ScoredCompletion sc : c) {
        ObjectNode n = JSON.createObjectNode();
        n.put("step", step);
        n.put("prompt", sc.prompt());
        n.put("response", sc.response());
        n.put("score", sc.score());
        n.put("reward", sc.reward());
        n.put("kl", sc.kl());
        n.put("eos", sc.eos());
        out.write(JSON.writeValueAsString(n));
        out.write('\n');
      }
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write completions to " + file, e);
    }
  }

  /** Closes the JSONL file, if any. */
  @Override
  public void close() {
    if (out != null) {
      try {
        out.close();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot close completions file " + file, e);
      }
    }
  }
}
