package org.rlhf4j.reward.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

/**
 * A text with the mean rating human raters gave it, e.g. a movie-review sentence with its mean
 * sentiment on the scale -4 (very negative) .. +4 (very positive).
 *
 * @param id the text's identifier, unique within its data set
 * @param rating the mean rating, finite
 * @param text the text, not blank
 */
public record RatedText(String id, double rating, String text) {

  /**
   * Checks the fields.
   *
   * @throws IllegalArgumentException if {@code id} or {@code text} is blank or {@code rating} is not
   *     finite
   */
  public RatedText {
    checkNotNull(id, "id");
    checkNotNull(text, "text");
    checkArgument(!id.isBlank(), "the id is empty");
    checkArgument(!text.isBlank(), "the text of %s is empty", id);
    checkArgument(Double.isFinite(rating), "the rating of %s is not finite: %s", id, rating);
  }
}
