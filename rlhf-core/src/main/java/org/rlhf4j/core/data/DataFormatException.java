package org.rlhf4j.core.data;

import org.rlhf4j.core.RlhfException;

/**
 * A record of an input file is malformed. The message names the file, the 1-based line (or record
 * index), the field and the offending value, e.g. {@code data.jsonl:17: field "completion": expected
 * a string, got 42}.
 */
public class DataFormatException extends RlhfException {
  private static final long serialVersionUID = 1L;

  private final String source;
  private final long line;

  public DataFormatException(String source, long line, String problem) {
    super(source + ":" + line + ": " + problem);
    this.source = source;
    this.line = line;
  }

  public DataFormatException(String source, long line, String problem, Throwable cause) {
    super(source + ":" + line + ": " + problem, cause);
    this.source = source;
    this.line = line;
  }

  /** The file name (or another description of the source) of the bad record. */
  public String source() {
    return source;
  }

  /** The 1-based line number of the bad record (its record index for non line-based sources). */
  public long line() {
    return line;
  }
}
