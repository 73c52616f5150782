package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.ImmutableList;
import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.FilterInputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
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
   * @throws DataReadException if the file cannot be read
   */
  public static <T> ImmutableList<T> read(Path file, Function<JsonRecord, T> parse) {
    return read(file, parse, LineReader.defaultMaxLineChars());
  }

  /**
   * As {@link #read(Path, Function)}, with a bound on the characters of one line (JSON Lines) or
   * one record (JSON array) instead of {@link LineReader#defaultMaxLineChars()}.
   *
   * @throws DataFormatException if the file is empty (no records), not valid UTF-8 JSON / JSON
   *     Lines, a line or record is longer than {@code maxRecordChars}, a record is not an object,
   *     or {@code parse} rejects a record
   * @throws DataReadException if the file cannot be read
   */
  public static <T> ImmutableList<T> read(
      Path file, Function<JsonRecord, T> parse, int maxRecordChars) {
    checkNotNull(file, "file");
    checkNotNull(parse, "parse");
    String source = sourceName(file);
    ImmutableList<T> records;
    try (BufferedInputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
      if (isArray(in)) {
        BoundedRecordStream bounded = new BoundedRecordStream(in, maxRecordChars);
        try (BufferedReader r =
            new BufferedReader(
                new InputStreamReader(
                    bounded,
                    StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)))) {
          skipByteOrderMark(r, source);
          records = readArray(r, source, parse, bounded);
        }
      } else {
        try (LineReader lines = LineReader.of(in, source, maxRecordChars)) {
          records = readLines(lines, parse);
        }
      }
    } catch (IOException e) {
      throw DataReadException.of(file, e);
    }
    return nonEmpty(records, source);
  }

  /**
   * The records of the JSON Lines file {@code file}, each turned into a value by {@code parse}.
   *
   * @throws DataFormatException if the file holds no records, a line is not a JSON object, is
   *     longer than {@link LineReader#defaultMaxLineChars()} or not UTF-8, or {@code parse} rejects
   *     it
   * @throws DataReadException if the file cannot be read
   */
  public static <T> ImmutableList<T> readLines(Path file, Function<JsonRecord, T> parse) {
    checkNotNull(file, "file");
    checkNotNull(parse, "parse");
    try (LineReader in = LineReader.open(file)) {
      return nonEmpty(readLines(in, parse), in.source());
    } catch (IOException e) {
      throw DataReadException.of(file, e);
    }
  }

  /**
   * The records read as JSON Lines from {@code in}, each turned into a value by {@code parse}.
   * Lines are bounded by {@link LineReader#defaultMaxLineChars()}.
   *
   * @param source the name used in error messages, e.g. the file name
   * @throws DataFormatException if a line is not a JSON object or too long, or {@code parse}
   *     rejects it
   * @throws DataReadException if {@code in} fails
   */
  public static <T> ImmutableList<T> readLines(
      BufferedReader in, String source, Function<JsonRecord, T> parse) {
    checkNotNull(in, "in");
    checkNotNull(source, "source");
    checkNotNull(parse, "parse");
    return readLines(LineReader.of(in, source, LineReader.defaultMaxLineChars()), parse);
  }

  /**
   * The records read as JSON Lines from {@code in} (which is not closed), each turned into a value
   * by {@code parse}; blank lines are skipped.
   *
   * @throws DataFormatException if a line is not a JSON object, too long or not UTF-8, or {@code
   *     parse} rejects it
   * @throws DataReadException if {@code in} fails
   */
  public static <T> ImmutableList<T> readLines(LineReader in, Function<JsonRecord, T> parse) {
    checkNotNull(in, "in");
    checkNotNull(parse, "parse");
    ImmutableList.Builder<T> out = ImmutableList.builder();
    for (String line = readLine(in); line != null; line = readLine(in)) {
      if (line.isBlank()) {
        continue;
      }
      out.add(checkNotNull(parse.apply(JsonRecord.parseLine(in.source(), in.lineNumber(), line))));
    }
    return out.build();
  }

  /**
   * The next line of {@code in} ({@code null} at its end), an I/O failure turned into a {@link
   * DataReadException} naming {@code in}'s source.
   *
   * @throws DataFormatException if the line is too long or not UTF-8
   * @throws DataReadException if reading fails
   */
  public static String readLine(LineReader in) {
    try {
      return in.readLine();
    } catch (IOException e) {
      throw new DataReadException(in.source(), e);
    }
  }

  /**
   * {@code records}, or a {@link DataFormatException} naming {@code source} if there are none: an
   * empty data file is almost always a mistake (a wrong path, a failed download).
   */
  public static <T> ImmutableList<T> nonEmpty(ImmutableList<T> records, String source) {
    if (records.isEmpty()) {
      throw new DataFormatException(
          source, 0, "no records: the file is empty or holds only blank lines");
    }
    return records;
  }

  /**
   * The records of a JSON array read from {@code in}, each turned into a value by {@code parse}.
   *
   * @param source the name used in error messages, e.g. the file name
   * @throws DataFormatException if the text is not a JSON array of objects, or {@code parse}
   *     rejects a record
   * @throws DataReadException if {@code in} fails
   */
  public static <T> ImmutableList<T> readArray(
      BufferedReader in, String source, Function<JsonRecord, T> parse) {
    checkNotNull(in, "in");
    checkNotNull(source, "source");
    checkNotNull(parse, "parse");
    try {
      return readArray(in, source, parse, null);
    } catch (IOException e) {
      throw new DataReadException(source, e);
    }
  }

  private static <T> ImmutableList<T> readArray(
      BufferedReader in, String source, Function<JsonRecord, T> parse, BoundedRecordStream bound)
      throws IOException {
    ImmutableList.Builder<T> out = ImmutableList.builder();
    long line = 1;
    long index = 0;
    try (JsonParser p = MAPPER.getFactory().createParser(in)) {
      JsonToken first = p.nextToken();
      if (first != JsonToken.START_ARRAY) {
        throw new DataFormatException(
            source, p.currentTokenLocation().getLineNr(), "expected a JSON array, got " + first);
      }
      for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken(), index++) {
        if (t == null) {
          throw new DataFormatException(
              source, p.currentLocation().getLineNr(), "invalid JSON: the array is not closed");
        }
        line = p.currentTokenLocation().getLineNr();
        if (bound != null) {
          bound.startRecord();
        }
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
    } catch (CharacterCodingException e) {
      throw new DataFormatException(
          source, line, "record [" + index + "]: invalid UTF-8 (" + e + "); the file must be UTF-8 text", e);
    } catch (RecordTooLongException e) {
      throw new DataFormatException(
          source,
          line,
          "record ["
              + index
              + "] is longer than the limit of about "
              + e.limitBytes
              + " bytes (a corrupt or hostile file?); raise it with -D"
              + LineReader.MAX_LINE_CHARS_PROPERTY
              + "=N if the data is genuine");
    }
    return out.build();
  }

  /** The name by which error messages refer to {@code file}: its file name. */
  public static String sourceName(Path file) {
    Path name = file.getFileName();
    return name == null ? file.toString() : name.toString();
  }

  private static void skipByteOrderMark(BufferedReader in, String source) throws IOException {
    in.mark(1);
    try {
      if (in.read() != '\uFEFF') {
        in.reset();
      }
    } catch (CharacterCodingException e) {
      throw new DataFormatException(source, 1, "invalid UTF-8 (" + e + "); the file must be UTF-8 text", e);
    }
  }

  /**
   * Whether the first non-blank character of {@code in} (after a UTF-8 byte order mark) is {@code
   * [}; {@code in} is not consumed.
   */
  private static boolean isArray(BufferedInputStream in) throws IOException {
    in.mark(1 << 16);
    try {
      int c = in.read();
      if (c == 0xEF && in.read() == 0xBB && in.read() == 0xBF) {
        c = in.read();
      }
      for (int n = 1; c >= 0 && n < (1 << 16); c = in.read(), n++) {
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
          return c == '[';
        }
      }
      return false;
    } finally {
      in.reset();
    }
  }

  /**
   * Counts the bytes read since the current record of a JSON array started and fails once they
   * exceed the limit (Jackson reads ahead, so the bound is approximate by a buffer's length).
   */
  private static final class BoundedRecordStream extends FilterInputStream {
    private final long limit;
    private long sinceMark;

    BoundedRecordStream(InputStream in, int maxRecordChars) {
      super(in);
      // A character is at least one byte, so this bounds the characters too; the slack covers
      // the parser's read-ahead.
      this.limit = (long) maxRecordChars + (1 << 16);
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0) {
        count(1);
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      if (n > 0) {
        count(n);
      }
      return n;
    }

    private void count(int n) {
      sinceMark += n;
      if (sinceMark > limit) {
        throw new RecordTooLongException(limit);
      }
    }

    void startRecord() {
      sinceMark = 0;
    }
  }

  private static final class RecordTooLongException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final long limitBytes;

    RecordTooLongException(long limitBytes) {
      super(null, null, false, false);
      this.limitBytes = limitBytes;
    }
  }
}
