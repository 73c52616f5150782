package org.rlhf4j.examples.labelling;

import static com.google.common.base.Preconditions.checkNotNull;

/**
 * An answer that {@link WebLabeller} refused; nothing was changed or stored. The {@link #reason()}
 * says why, so the labelling server can pick the HTTP status.
 */
public final class LabelRejectedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Why an answer was refused. */
  public enum Reason {
    /** No item with that id has been published. */
    UNKNOWN_ITEM,
    /** The item has already been ranked or skipped. */
    ALREADY_ANSWERED,
    /** The ranking is not a permutation of {@code 0..K-1}. */
    INVALID_RANKING
  }

  private final Reason reason;

  /** A rejection for {@code reason}, with a message for the person labelling. */
  public LabelRejectedException(Reason reason, String message) {
    super(message);
    this.reason = checkNotNull(reason, "reason");
  }

  /** Why the answer was refused. */
  public Reason reason() {
    return reason;
  }
}
