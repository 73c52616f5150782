package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.ImmutableList;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * Reads files of JSON records one record at a time, in either of two layouts:
 *
 * <ul>
 *   <li>JSON Lines ({@link #readLines}): one JSON object per non-blank line; blank lines are
 *       skipped; errors name the 1-based line.
 *   <li>a JSON array of objects ({@link #readArray}), as used by LLaMA-Factory / ShareGPT files;
 *       errors name the line where the record starts and its 0-based array index, {@code
 *       data.json:812: record [17]: field "chosen": ...}.
 * </ul>
 *
 * <p>{@link #read} picks the layout from the content: a file whose first non-blank character is
 * {@code [} is a JSON array, anything else JSON Lines. The text is streamed; only the records it
 * produces are kept.
 */
public final class JsonFiles {
  /** Reads one array element at a time (so no trailing-token check), rejecting duplicate keys. */
  private static final ObjectMapper MAPPER =
      JsonRecord.MAPPER.copy().disable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private JsonFiles() {}

  /**
   * The records of {@code file}, a JSON array or JSON Lines file (see {@link JsonFiles}), each
   * turned into a value by {@code parse}; errors name the file by its file name.
   *
   * @throws DataFormatException if the file is not valid JSON / JSON Lines, a record is not an
   *     object, or {@code parse} rejects a record
   * @throws IOException if the file cannot be read
   */
  public static <T> ImmutableList<T> read(Path file, Function<JsonRecord, T> parse)
      throws IOException {
    checkNotNull(file, "file");
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      skipByteOrderMark(in);
      return isArray(in)
          ? readArray(in, sourceName(file), parse)
          : readLines(in, sourceName(file), parse);
    }
  }

  /**
   * The records of the JSON Lines file {@code file}, each turned into a value by {@code parse}.
   *
   * @throws DataFormatException if a line is not a JSON object, or {@code parse} rejects it
   * @throws IOException if the file cannot be read
   */
  public static <T> ImmutableList<T> readLines(Path file, Function<JsonRecord, T> parse)
      throws IOException {
    checkNotNull(file, "file");
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return readLines(in, sourceName(file), parse);
    }
  }

  /**
   * The records read as JSON Lines from {@code in}, each turned into a value by {@code parse}.
   *
   * @param source the name used in error messages, e.g. the file name
   * @throws DataFormatException if a line is not a JSON object, or {@code parse} rejects it
   * @throws IOException if {@code in} fails
   */
  public static <T> ImmutableList<T> readLines(
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

  /**
   * The records of a JSON array read from {@code in}, each turned into a value by {@code parse}.
   *
   * @param source the name used in error messages, e.g. the file name
   * @throws DataFormatException if the text is not a JSON array of objects, or {@code parse}
   *     rejects a record
   * @throws IOException if {@code in} fails
   */
  public static <T> ImmutableList<T> readArray(
      BufferedReader in, String source, Function<JsonRecord, T> parse) throws IOException {
    checkNotNull(in, "in");
    checkNotNull(source, "source");
    checkNotNull(parse, "parse");
    ImmutableList.Builder<T> out = ImmutableList.builder();
    long line = 1;
    try (JsonParser p = MAPPER.getFactory().createParser(in)) {
      JsonToken first = p.nextToken();
      if (first != JsonToken.START_ARRAY) {
        throw new DataFormatException(
            source, p.currentTokenLocation().getLineNr(), "expected a JSON array, got " + first);
      }
      long index = 0;
      for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken(), index++) {
        if (t == null) {
          throw new DataFormatException(
              source, p.currentLocation().getLineNr(), "invalid JSON: the array is not closed");
        }
        line = p.currentTokenLocation().getLineNr();
        JsonNode node = MAPPER.readTree(p);
        out.add(checkNotNull(parse.apply(JsonRecord.ofElement(source, line, index, node))));
      }
      JsonToken after = p.nextToken();
      if (after != null) {
        throw new DataFormatException(
            source,
            p.currentTokenLocation().getLineNr(),
            "unexpected " + after + " after the end of the JSON array");
      }
    } catch (JsonProcessingException e) {
      long at = e.getLocation() == null ? line : e.getLocation().getLineNr();
      throw new DataFormatException(
          source, at, "invalid JSON: " + e.getOriginalMessage().replace('\n', ' '), e);
    }
    return out.build();
  }

  /** The name by which error messages refer to {@code file}: its file name. */
  public static String sourceName(Path file) {
    Path name = file.getFileName();
    return name == null ? file.toString() : name.toString();
  }

  private static void skipByteOrderMark(BufferedReader in) throws IOException {
    in.mark(1);
    if (in.read() != '\uFEFF') {
      in.reset();
    }
  }

  /** Whether the first non-blank character of {@code in} is {@code [}; {@code in} is not consumed. */
  private static boolean isArray(BufferedReader in) throws IOException {
    in.mark(1 << 16);
    try {
      for (int c = in.read(), n = 1; c >= 0 && n < (1 << 16); c = in.read(), n++) {
        if (!Character.isWhitespace(c)) {
          return c == '[';
        }
      }
      return false;
    } finally {
      in.reset();
    }
  }
}
