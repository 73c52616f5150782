package org.rlhf4j.reward.feedback;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.reward.data.Ranking;

/**
 * A durable, append-only JSON Lines file of K-way rankings. {@link #append} returns only after the
 * record's line has been written and forced to disk, so an acknowledged ranking survives a crash.
 * A crash in the middle of a write can leave a partial last line: {@link #open} detects it, moves
 * the fragment to {@code <file>.torn-<n>} (nothing is silently dropped), reports it through {@link
 * #tornTail()} and a warning, and carries on. An append that fails (disk full, short write) is cut
 * back out of the file before the error is thrown, so the store stays readable and later appends
 * work. A malformed line anywhere else is an error naming the line. Appends from several threads
 * are serialised; the file is locked (through the sidecar {@code <file>.lock}) against a second
 * opener in this or another process, who gets an error naming the file. Use after {@link #close}
 * throws {@link IllegalStateException}.
 *
 * <p>Line format: {@code {"seq":1,"item":"r0-p3","prompt":"...","responses":["...","..."],
 * "ranking":[1,0],"labeller":"ann","timestamp":"2026-11-22T10:00:00Z","model_version":"round-0"}}.
 */
public final class ComparisonStore implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A partial last line found on open and moved aside. */
  public record TornTail(long line, long bytes, Path movedTo) {}

  private final DurableLog log;
  private final Clock clock;
  private final List<StoredComparison> records;
  private final Optional<TornTail> torn;

  private ComparisonStore(DurableLog log, Clock clock, List<StoredComparison> records) {
    this.log = log;
    this.clock = clock;
    this.records = records;
    this.torn = log.torn().map(t -> new TornTail(t.line(), t.bytes(), t.movedTo()));
  }

  /** Opens (or creates) the store at {@code file}. */
  public static ComparisonStore open(Path file) {
    return open(file, Clock.systemUTC());
  }

  /**
   * Opens (or creates) the store at {@code file}, stamping records with {@code clock}.
   *
   * @throws RlhfException if the store is open elsewhere (locked by another process, or already open
   *     in this one)
   * @throws DataFormatException naming the line if a complete line is not a valid record
   */
  public static ComparisonStore open(Path file, Clock clock) {
    return open(file, clock, DurableLog.Io.DIRECT);
  }

  /** As {@link #open(Path, Clock)} with the given file operations (tests inject failing writes). */
  static ComparisonStore open(Path file, Clock clock, DurableLog.Io io) {
    checkNotNull(clock, "clock");
    DurableLog log = DurableLog.open(file, "comparison store", io);
    try {
      return new ComparisonStore(log, clock, parse(file, log.lines()));
    } catch (RuntimeException e) {
      log.close();
      throw e;
    }
  }

  private static List<StoredComparison> parse(Path file, List<DurableLog.Line> lines) {
    List<StoredComparison> out = new ArrayList<>();
    for (DurableLog.Line l : lines) {
      String line = l.text();
      if (line.isBlank()) {
        continue;
      }
      long n = l.number();
      try {
        JsonNode o = JSON.readTree(line);
        List<String> responses = new ArrayList<>();
        o.get("responses").forEach(r -> responses.add(r.asText()));
        List<Integer> order = new ArrayList<>();
        o.get("ranking").forEach(r -> order.add(r.asInt()));
        LabelResult.checkPermutation(order, responses.size());
        out.add(new StoredComparison(
            o.get("seq").asLong(),
            o.get("item").asText(),
            o.get("prompt").asText(),
            ImmutableList.copyOf(responses),
            ImmutableList.copyOf(order),
            o.get("labeller").asText(),
            Instant.parse(o.get("timestamp").asText()),
            o.get("model_version").asText()));
      } catch (IOException | RuntimeException e) {
        throw new DataFormatException(file.toString(), n, "malformed comparison record (" + e.getMessage() + "): " + abbreviate(line));
      }
    }
    return out;
  }

  private static String abbreviate(String s) {
    return s.length() <= 120 ? s : s.substring(0, 120) + "...";
  }

  /**
   * Appends a ranking and returns once it is on disk.
   *
   * @throws IllegalArgumentException if the ranking is not a permutation of the responses
   * @throws UncheckedIOException if it could not be written and forced; nothing of it is kept then
   * @throws IllegalStateException if the store is closed
   */
  public synchronized StoredComparison append(LabelRequest request, LabelResult result) {
    if (result.isSkip()) {
      throw new IllegalArgumentException("item " + request.itemId() + " was skipped: nothing to store");
    }
    if (!result.itemId().equals(request.itemId())) {
      throw new IllegalArgumentException("result for item " + result.itemId() + " does not answer item " + request.itemId());
    }
    LabelResult.checkPermutation(result.order(), request.k());
    StoredComparison c = new StoredComparison(
        records.size() + 1, request.itemId(), request.prompt(), request.responses(), result.order(), result.labeller(), clock.instant(), request.modelVersion());
    ObjectNode o = JSON.createObjectNode();
    o.put("seq", c.sequence());
    o.put("item", c.itemId());
    o.put("prompt", c.prompt());
    ArrayNode rs = o.putArray("responses");
    c.responses().forEach(rs::add);
    ArrayNode rk = o.putArray("ranking");
    c.order().forEach(rk::add);
    o.put("labeller", c.labeller());
    o.put("timestamp", c.timestamp().toString());
    o.put("model_version", c.modelVersion());
    String line;
    try {
      line = JSON.writeValueAsString(o);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode comparison record for item " + c.itemId(), e);
    }
    log.append(line); // durable, or cut back out of the file and thrown
    records.add(c);
    return c;
  }

  /** Every stored comparison, oldest first. */
  public synchronized ImmutableList<StoredComparison> records() {
    return ImmutableList.copyOf(records);
  }

  /** Every stored comparison as a {@link Ranking}. */
  public synchronized ImmutableList<Ranking> rankings() {
    ImmutableList.Builder<Ranking> b = ImmutableList.builder();
    for (StoredComparison c : records) {
      b.add(c.toRanking(log.file().getFileName().toString()));
    }
    return b.build();
  }

  /** Whether {@code itemId} has been stored. */
  public synchronized boolean contains(String itemId) {
    return records.stream().anyMatch(c -> c.itemId().equals(itemId));
  }

  /** The number of stored comparisons. */
  public synchronized int size() {
    return records.size();
  }

  /** The torn last line found when the store was opened, if any. */
  public Optional<TornTail> tornTail() {
    return torn;
  }

  /** The file. */
  public Path file() {
    return log.file();
  }

  /** Releases the lock and closes the file; a second call does nothing. */
  @Override
  public synchronized void close() {
    log.close();
  }
}
