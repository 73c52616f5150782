package org.rlhf4j.core.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * Appends one JSON object per step and per evaluation to a file: {@code {"phase": "ppo", "step": 3,
 * "objective/kl": 0.01, ...}}, flushed line by line so a crash loses at most the current line.
 */
public final class JsonlMetricsWriter implements TrainingListener, AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final Path file;
  private final BufferedWriter out;

  /** Writes to {@code file} (created, or appended to). */
  public JsonlMetricsWriter(Path file) {
    this.file = file;
    try {
      if (file.getParent() != null) {
        Files.createDirectories(file.getParent());
      }
      this.out =
          Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open metrics file " + file, e);
    }
  }

  @Override
  public void onStep(Metrics m) {
    write(m, "train");
  }

  @Override
  public void onEvaluation(Metrics m) {
    write(m, "eval");
  }

  @Override
  public void onEnd(Metrics m) {
    write(m, "summary");
  }

  private void write(Metrics m, String kind) {
    ObjectNode o = JSON.createObjectNode();
    o.put("phase", m.phase());
    o.put("kind", kind);
    o.put("step", m.step());
    for (Map.Entry<String, Double> e : m.values().entrySet()) {
      double v = e.getValue();
      if (Double.isFinite(v)) {
        o.put(e.getKey(), v);
      } else {
        o.put(e.getKey(), Double.toString(v));
      }
    }
    try {
      out.write(JSON.writeValueAsString(o));
      out.newLine();
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write metrics to " + file, e);
    }
  }

  @Override
  public void close() {
    try {
      out.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
