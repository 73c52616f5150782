package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads the lines of a UTF-8 text file with a bound on the length of a line, so that a hostile or
 * corrupt file (one 400 MB line) fails with a clear {@link DataFormatException} instead of
 * exhausting memory: no line longer than the limit is ever held in memory.
 *
 * <p>Lines end at {@code \n}, {@code \r} or {@code \r\n}, as with {@link
 * java.io.BufferedReader#readLine()}; a leading byte order mark is dropped. Invalid UTF-8 is a
 * {@link DataFormatException} naming the source, the line and (when reading bytes) the byte offset
 * of the first bad byte.
 *
 * <p>The default limit is {@value #DEFAULT_MAX_LINE_CHARS} characters (16 Mi), or the value of the
 * system property {@value #MAX_LINE_CHARS_PROPERTY}; every JSON Lines and TSV reader of rlhf4j uses
 * it. Not thread-safe.
 */
public final class LineReader implements Closeable {
  /** The default bound on the characters of one line (or one record of a JSON array): 16 Mi. */
  public static final int DEFAULT_MAX_LINE_CHARS = 16 << 20;

  /** The system property that overrides {@link #DEFAULT_MAX_LINE_CHARS}. */
  public static final String MAX_LINE_CHARS_PROPERTY = "rlhf4j.data.maxLineChars";

  private static final int BUFFER = 1 << 14;

  private final InputStream bytes;
  private final Reader chars;
  private final String source;
  private final int maxLineChars;
  private final CharsetDecoder decoder;
  private final ByteBuffer bb;
  private final CharBuffer cb = CharBuffer.allocate(BUFFER);
  private long consumedBytes;
  private boolean eof;
  private boolean done;
  private long malformedAt = -1;
  private int malformedLength;
  private boolean skipLf;
  private long lineNumber;

  private LineReader(InputStream bytes, Reader chars, String source, int maxLineChars) {
    checkNotNull(source, "source");
    checkArgument(maxLineChars > 0, "maxLineChars must be positive, got %s", maxLineChars);
    this.bytes = bytes;
    this.chars = chars;
    this.source = source;
    this.maxLineChars = maxLineChars;
    if (bytes != null) {
      this.decoder =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT);
      this.bb = ByteBuffer.allocate(BUFFER);
      bb.flip();
    } else {
      this.decoder = null;
      this.bb = null;
    }
    cb.flip();
  }

  /**
   * Lines of the UTF-8 file {@code file}, named in errors by its file name, with the {@linkplain
   * #defaultMaxLineChars() default limit}.
   */
  public static LineReader open(Path file) throws IOException {
    return open(file, defaultMaxLineChars());
  }

  /** Lines of the UTF-8 file {@code file}, named in errors by its file name. */
  public static LineReader open(Path file, int maxLineChars) throws IOException {
    checkNotNull(file, "file");
    return new LineReader(
        Files.newInputStream(file), null, JsonFiles.sourceName(file), maxLineChars);
  }

  /** Lines of the UTF-8 bytes of {@code in}; closing the reader closes {@code in}. */
  public static LineReader of(InputStream in, String source, int maxLineChars) {
    return new LineReader(checkNotNull(in, "in"), null, source, maxLineChars);
  }

  /**
   * Lines of the characters of {@code in}; closing the reader closes {@code in}. Decoding errors
   * of {@code in} are reported with the line but without a byte offset.
   */
  public static LineReader of(Reader in, String source, int maxLineChars) {
    return new LineReader(null, checkNotNull(in, "in"), source, maxLineChars);
  }

  /**
   * The limit in force: the system property {@value #MAX_LINE_CHARS_PROPERTY} if set, else {@link
   * #DEFAULT_MAX_LINE_CHARS}.
   *
   * @throws IllegalArgumentException if the property is set but not a positive integer
   */
  public static int defaultMaxLineChars() {
    String v = System.getProperty(MAX_LINE_CHARS_PROPERTY);
    if (v == null) {
      return DEFAULT_MAX_LINE_CHARS;
    }
    int n;
    try {
      n = Integer.parseInt(v.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "system property " + MAX_LINE_CHARS_PROPERTY + " must be a positive integer, got " + v);
    }
    checkArgument(
        n > 0, "system property %s must be a positive integer, got %s", MAX_LINE_CHARS_PROPERTY, v);
    return n;
  }

  /** The name used in error messages. */
  public String source() {
    return source;
  }

  /** The 1-based number of the last line returned (0 before the first). */
  public long lineNumber() {
    return lineNumber;
  }

  /** The limit on the characters of one line. */
  public int maxLineChars() {
    return maxLineChars;
  }

  /**
   * The next line without its terminator, or {@code null} at the end of the input.
   *
   * @throws DataFormatException if the line is longer than the limit or is not valid UTF-8
   * @throws IOException if reading fails
   */
  public String readLine() throws IOException {
    StringBuilder line = null;
    while (true) {
      if (!cb.hasRemaining() && !fill()) {
        if (line == null) {
          return null;
        }
        return finish(line);
      }
      if (skipLf) {
        skipLf = false;
        if (cb.get(cb.position()) == '\n') {
          cb.position(cb.position() + 1);
          continue;
        }
      }
      int start = cb.position();
      int end = cb.limit();
      int i = start;
      while (i < end) {
        char c = cb.get(i);
        if (c == '\n' || c == '\r') {
          break;
        }
        i++;
      }
      if (line == null) {
        line = new StringBuilder(Math.min(i - start + 16, 1 << 12));
      }
      if ((long) line.length() + (i - start) > maxLineChars) {
        throw tooLong();
      }
      line.append(cb.array(), cb.arrayOffset() + start, i - start);
      if (i < end) {
        skipLf = cb.get(i) == '\r';
        cb.position(i + 1);
        return finish(line);
      }
      cb.position(end);
    }
  }

  private String finish(StringBuilder line) {
    lineNumber++;
    if (lineNumber == 1 && line.length() > 0 && line.charAt(0) == '\uFEFF') {
      line.deleteCharAt(0);
    }
    return line.toString();
  }

  private DataFormatException tooLong() {
    return new DataFormatException(
        source,
        lineNumber + 1,
        "line is longer than the limit of "
            + maxLineChars
            + " characters (a corrupt or hostile file?); raise it with -D"
            + MAX_LINE_CHARS_PROPERTY
            + "=N if the data is genuine");
  }

  /** Refills {@link #cb}; false at the end of the input. */
  private boolean fill() throws IOException {
    if (chars != null) {
      cb.clear();
      int n;
      try {
        do {
          n = chars.read(cb.array(), 0, cb.capacity());
        } while (n == 0);
      } catch (CharacterCodingException e) {
        throw new DataFormatException(
            source, lineNumber + 1, "invalid text encoding (expected UTF-8): " + e, e);
      }
      cb.position(0);
      cb.limit(Math.max(n, 0));
      return n > 0;
    }
    if (done) {
      return false;
    }
    if (malformedAt >= 0) {
      // Reported only now, once every character before the bad bytes has been returned, so the
      // line number is the bad byte's line.
      throw new DataFormatException(
          source,
          lineNumber + 1,
          "invalid UTF-8 at byte offset "
              + malformedAt
              + " ("
              + malformedLength
              + " malformed byte(s)); the file must be UTF-8 text");
    }
    cb.clear();
    while (true) {
      CoderResult r = decoder.decode(bb, cb, eof);
      if (r.isError()) {
        malformedAt = consumedBytes + bb.position();
        malformedLength = r.length();
        cb.flip();
        return cb.hasRemaining() || fill();
      }
      if (cb.position() > 0) {
        cb.flip();
        return true;
      }
      if (eof) {
        decoder.flush(cb);
        done = true;
        cb.flip();
        return cb.hasRemaining();
      }
      consumedBytes += bb.position();
      bb.compact();
      int n = bytes.read(bb.array(), bb.position(), bb.remaining());
      if (n < 0) {
        eof = true;
      } else {
        bb.position(bb.position() + n);
      }
      bb.flip();
    }
  }

  @Override
  public void close() throws IOException {
    if (bytes != null) {
      bytes.close();
    } else {
      chars.close();
    }
  }
}
