package org.rlhf4j.core;

/**
 * Base class of the errors rlhf4j raises on purpose: bad input, bad configuration, an unreadable
 * checkpoint. Every message names what was wrong (the file, line, field or tensor) and the bad value.
 */
public class RlhfException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public RlhfException(String message) {
    super(message);
  }

  public RlhfException(String message, Throwable cause) {
    super(message, cause);
  }
}
