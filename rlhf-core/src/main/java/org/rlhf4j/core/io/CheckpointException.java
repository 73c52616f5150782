package org.rlhf4j.core.io;

import org.rlhf4j.core.RlhfException;

/** A checkpoint cannot be read or written; the message names the file and what is wrong. */
public class CheckpointException extends RlhfException {
  private static final long serialVersionUID = 1L;

  public CheckpointException(String message) {
    super(message);
  }

  public CheckpointException(String message, Throwable cause) {
    super(message, cause);
  }
}
