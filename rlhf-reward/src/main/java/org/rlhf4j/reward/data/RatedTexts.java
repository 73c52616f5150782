package org.rlhf4j.reward.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import com.google.common.hash.HashFunction;
import com.google.common.hash.Hashing;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.data.DataReadException;
import org.rlhf4j.core.data.JsonFiles;
import org.rlhf4j.core.data.LineReader;

/**
 * Reads and splits human-rated texts, such as {@code sentiment/movie-review-snippets.tsv} of the
 * shared data (10,605 Rotten Tomatoes sentences, each with the mean of at least 20 human sentiment
 * ratings on the scale -4 .. +4).
 *
 * <p>The file format is tab-separated, one text per line: {@code id}, {@code mean rating}, {@code
 * sentence}. Lines may end with LF or CRLF; blank lines are skipped, and so is a first line whose
 * first field is {@code id} (a header). A line with another number of fields, an empty id or
 * sentence, a rating that is not a number in -4 .. +4, or an id seen before fails with a {@link
 * DataFormatException} such as {@code movie-review-snippets.tsv:12: field "mean rating": expected a
 * number, got "high"}.
 */
public final class RatedTexts {
  /** The lowest rating of the scale. */
  public static final double MIN_RATING = -4.0;

  /** The highest rating of the scale. */
  public static final double MAX_RATING = 4.0;

  private RatedTexts() {}

  /**
   * The texts of {@code file}, in file order.
   *
   * @throws DataFormatException if a line is malformed
   * @throws DataReadException if the file cannot be read
   */
  public static ImmutableList<RatedText> read(Path file) {
    checkNotNull(file, "file");
    try (LineReader in = LineReader.open(file)) {
      return JsonFiles.nonEmpty(read(in), in.source());
    } catch (IOException e) {
      throw DataReadException.of(file, e);
    }
  }

  /**
   * The texts read from {@code in}; {@code source} names it in error messages.
   *
   * @throws DataFormatException if a line is malformed
   * @throws DataReadException if {@code in} fails
   */
  public static ImmutableList<RatedText> read(BufferedReader in, String source) {
    checkNotNull(in, "in");
    checkNotNull(source, "source");
    return read(LineReader.of(in, source, LineReader.defaultMaxLineChars()));
  }

  /**
   * The texts read from {@code in} (not closed), lines bounded by its limit.
   *
   * @throws DataFormatException if a line is malformed, too long or not UTF-8
   * @throws DataReadException if {@code in} fails
   */
  public static ImmutableList<RatedText> read(LineReader in) {
    checkNotNull(in, "in");
    String source = in.source();
    ImmutableList.Builder<RatedText> out = ImmutableList.builder();
    Map<String, Long> firstLine = new HashMap<>();
    for (String line = JsonFiles.readLine(in); line != null; line = JsonFiles.readLine(in)) {
      long lineNumber = in.lineNumber();
      if (line.isBlank()) {
        continue;
      }
      String[] fields = line.split("\t", -1);
      if (lineNumber == 1 && fields[0].strip().equalsIgnoreCase("id")) {
        continue;
      }
      if (fields.length != 3) {
        throw new DataFormatException(
            source,
            lineNumber,
            "expected 3 tab-separated fields (id, mean rating, sentence), got " + fields.length);
      }
      String id = fields[0].strip();
      if (id.isEmpty()) {
        throw new DataFormatException(source, lineNumber, "field \"id\": must not be empty");
      }
      double rating = rating(source, lineNumber, fields[1].strip());
      String text = fields[2].strip();
      if (text.isEmpty()) {
        throw new DataFormatException(source, lineNumber, "field \"sentence\": must not be empty");
      }
      Long previous = firstLine.putIfAbsent(id, lineNumber);
      if (previous != null) {
        throw new DataFormatException(
            source,
            lineNumber,
            "field \"id\": duplicate id \"" + id + "\" (first on line " + previous + ")");
      }
      out.add(new RatedText(id, rating, text));
    }
    return out.build();
  }

  private static double rating(String source, long line, String field) {
    double rating;
    try {
      rating = Double.parseDouble(field);
    } catch (NumberFormatException e) {
      throw new DataFormatException(
          source, line, "field \"mean rating\": expected a number, got \"" + field + "\"", e);
    }
    if (!(rating >= MIN_RATING && rating <= MAX_RATING)) {
      throw new DataFormatException(
          source,
          line,
          "field \"mean rating\": " + field + " is outside the scale " + MIN_RATING + " .. "
              + MAX_RATING);
    }
    return rating;
  }

  /**
   * A split of rated texts into training and held-out texts.
   *
   * @param train the training texts, in input order
   * @param heldOut the held-out texts, in input order
   */
  public record Split(ImmutableList<RatedText> train, ImmutableList<RatedText> heldOut) {
    /** Checks that no field is null. */
    public Split {
      checkNotNull(train, "train");
      checkNotNull(heldOut, "heldOut");
    }
  }

  /**
   * Splits {@code texts} deterministically by text id: a text is held out when a keyed hash
   * (SipHash-2-4 keyed by {@code seed}) of its id, read as a number in [0, 1), is below {@code
   * heldOutFraction}. A text's side depends only on its id and the seed, not on the other texts or
   * their order, so it is stable when the data set grows. Texts with the same sentence (after
   * trimming) under different ids are kept on the same side, that of the smallest of their ids, so
   * that a held-out sentence never appears among the training texts.
   *
   * @param heldOutFraction the expected fraction of held-out texts, in [0, 1]
   * @throws IllegalArgumentException if {@code heldOutFraction} is outside [0, 1]
   */
  public static Split split(List<RatedText> texts, double heldOutFraction, long seed) {
    checkNotNull(texts, "texts");
    checkArgument(
        heldOutFraction >= 0 && heldOutFraction <= 1,
        "heldOutFraction must be in [0, 1], got %s",
        heldOutFraction);
    Map<String, String> keyOfText = new HashMap<>();
    for (RatedText t : texts) {
      keyOfText.merge(t.text().strip(), t.id(), (a, b) -> a.compareTo(b) <= 0 ? a : b);
    }
    HashFunction hash = Hashing.sipHash24(seed, 0x9E3779B97F4A7C15L);
    ImmutableList.Builder<RatedText> train = ImmutableList.builder();
    ImmutableList.Builder<RatedText> heldOut = ImmutableList.builder();
    for (RatedText t : texts) {
      String key = keyOfText.get(t.text().strip());
      double u = (hash.hashString(key, StandardCharsets.UTF_8).asLong() >>> 11) * 0x1.0p-53;
      (u < heldOutFraction ? heldOut : train).add(t);
    }
    return new Split(train.build(), heldOut.build());
  }
}
