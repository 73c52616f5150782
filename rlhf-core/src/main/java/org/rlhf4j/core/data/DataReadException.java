package org.rlhf4j.core.data;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.rlhf4j.core.RlhfException;

/**
 * An input file (or stream) could not be read: it does not exist, is not readable, or the read
 * failed. The message names the file and the reason, e.g. {@code cannot read
 * /data/train.jsonl: no such file}; the {@link IOException} is the {@linkplain #getCause() cause}.
 *
 * <p>The dataset readers ({@code SftDatasets}, {@code SelfInstruct}, {@code PreferenceDatasets},
 * {@code RatedTexts}, {@link JsonFiles}, ...) throw this unchecked exception instead of a checked
 * {@link IOException}, like the rest of rlhf4j; a malformed record is a {@link
 * DataFormatException} instead.
 */
public class DataReadException extends RlhfException {
  private static final long serialVersionUID = 1L;

  private final String source;

  /**
   * @param source the file (its path) or another description of what was read
   * @param cause the failure
   */
  public DataReadException(String source, IOException cause) {
    super("cannot read " + source + ": " + reason(cause), cause);
    this.source = source;
  }

  /** A failure to read {@code file}, named by its path. */
  public static DataReadException of(Path file, IOException cause) {
    return new DataReadException(String.valueOf(file), cause);
  }

  /** The file (or other source) that could not be read. */
  public String source() {
    return source;
  }

  @Override
  public synchronized IOException getCause() {
    return (IOException) super.getCause();
  }

  private static String reason(IOException e) {
    if (e instanceof NoSuchFileException) {
      return "no such file";
    }
    if (e instanceof AccessDeniedException) {
      return "permission denied";
    }
    String m = e.getMessage();
    return e.getClass().getSimpleName() + (m == null ? "" : " (" + m + ")");
  }
}
