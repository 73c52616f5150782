package org.rlhf4j.core.io;

import org.rlhf4j.core.RlhfException;

/**
 * A safetensors file is malformed, truncated, inconsistent with what was asked of it, or could not
 * be read or written. The message always starts with the file and names the tensor or header field
 * and the offending value, e.g. {@code model.safetensors: tensor "w": data_offsets [0, 12] span 12
 * bytes but dtype F32 with shape [2, 2] needs 16}.
 */
public class SafetensorsException extends RlhfException {
  private static final long serialVersionUID = 1L;

  private final String file;

  /**
   * Creates an exception for {@code file}.
   *
   * @param file the file (its path as given by the caller)
   * @param problem what is wrong, naming the tensor or field and the bad value
   */
  public SafetensorsException(String file, String problem) {
    super(file + ": " + problem);
    this.file = file;
  }

  /**
   * Creates an exception for {@code file} caused by {@code cause}.
   *
   * @param file the file (its path as given by the caller)
   * @param problem what is wrong, naming the tensor or field and the bad value
   * @param cause the underlying error (an I/O or JSON error)
   */
  public SafetensorsException(String file, String problem, Throwable cause) {
    super(file + ": " + problem, cause);
    this.file = file;
  }

  /** The file the problem is in, as given by the caller. */
  public String file() {
    return file;
  }
}
