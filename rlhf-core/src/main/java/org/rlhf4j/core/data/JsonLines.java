package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * Reads JSON Lines files one line at a time: each non-blank line is one JSON object; blank lines are
 * skipped; lines are numbered from 1 for error messages. The whole file is never held in memory as
 * text, only the records it produces.
 */
public final class JsonLines {
  private JsonLines() {}

  /**
   * The records of {@code file}, each turned into a value by {@code parse}; errors name the file by
   * its file name.
   *
   * @throws DataFormatException if a line is not a JSON object, or {@code parse} rejects it
   * @throws IOException if the file cannot be read
   */
  public static <T> ImmutableList<T> read(Path file, Function<JsonRecord, T> parse)
      throws IOException {
    checkNotNull(file, "file");
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return read(in, sourceName(file), parse);
    }
  }

  /**
   * The records read from {@code in}, each turned into a value by {@code parse}.
   *
   * @param source the name used in error messages, e.g. the file name
   * @throws DataFormatException if a line is not a JSON object, or {@code parse} rejects it
   * @throws IOException if {@code in} fails
   */
  public static <T> ImmutableList<T> read(
      BufferedReader in, String source, Function<JsonRecord, T> parse) throws IOException {
    checkNotNull(in, "in");
    checkNotNull(source, "source");
    checkNotNull(parse, "parse");
    ImmutableList.Builder<T> out = ImmutableList.builder();
    long lineNumber = 0;
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      lineNumber++;
      if (lineNumber == 1 && line.startsWith("\uFEFF")) {
        line = line.substring(1);
      }
      if (line.isBlank()) {
        continue;
      }
      out.add(checkNotNull(parse.apply(JsonRecord.parseLine(source, lineNumber, line))));
    }
    return out.build();
  }

  /** The name by which error messages refer to {@code file}: its file name. */
  public static String sourceName(Path file) {
    Path name = file.getFileName();
    return name == null ? file.toString() : name.toString();
  }
}
