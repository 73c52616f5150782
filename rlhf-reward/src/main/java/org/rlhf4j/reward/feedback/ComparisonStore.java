package org.rlhf4j.reward.feedback;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.reward.data.Ranking;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A durable, append-only JSON Lines file of K-way rankings. {@link #append} returns only after the
 * record's line has been written and forced to disk, so an acknowledged ranking survives a crash.
 * A crash in the middle of a write can leave a partial last line: {@link #open} detects it, moves
 * the fragment to {@code <file>.torn-<n>} (nothing is silently dropped), reports it through {@link
 * #tornTail()} and a warning, and carries on. A malformed line anywhere else is an error naming the
 * line. Appends from several threads are serialised; the file is locked against other processes.
 *
 * <p>Line format: {@code {"seq":1,"item":"r0-p3","prompt":"...","responses":["...","..."],
 * "ranking":[1,0],"labeller":"ann","timestamp":"2026-11-22T10:00:00Z","model_version":"round-0"}}.
 */
public final class ComparisonStore implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ComparisonStore.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A partial last line found on open and moved aside. */
  public record TornTail(long line, long bytes, Path movedTo) {}

  private final Path file;
  private final FileChannel channel;
  private final FileLock lock;
  private final Clock clock;
  private final List<StoredComparison> records;
  private final Optional<TornTail> torn;

  private ComparisonStore(Path file, FileChannel channel, FileLock lock, Clock clock, List<StoredComparison> records, Optional<TornTail> torn) {
    this.file = file;
    this.channel = channel;
    this.lock = lock;
    this.clock = clock;
    this.records = records;
    this.torn = torn;
  }

  /** Opens (or creates) the store at {@code file}. */
  public static ComparisonStore open(Path file) {
    return open(file, Clock.systemUTC());
  }

  /** Opens (or creates) the store at {@code file}, stamping records with {@code clock}. */
  public static ComparisonStore open(Path file, Clock clock) {
    try {
      if (file.getParent() != null) {
        Files.createDirectories(file.getParent());
      }
      FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = ch.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null;
      }
      if (lock == null) {
        ch.close();
        throw new RlhfException(file + ": the comparison store is open elsewhere (locked)");
      }
      byte[] bytes = Files.readAllBytes(file);
      int end = bytes.length;
      int lastNewline = -1;
      for (int i = bytes.length - 1; i >= 0; i--) {
        if (bytes[i] == '\n') {
          lastNewline = i;
          break;
        }
      }
      Optional<TornTail> torn = Optional.empty();
      List<StoredComparison> records = parse(file, new String(bytes, 0, lastNewline + 1, StandardCharsets.UTF_8));
      if (lastNewline + 1 < end) {
        // A partial line after the last newline: the write that made it was never acknowledged.
        byte[] fragment = java.util.Arrays.copyOfRange(bytes, lastNewline + 1, end);
        Path aside = file.resolveSibling(file.getFileName() + ".torn-" + (records.size() + 1));
        Files.write(aside, fragment);
        ch.truncate(lastNewline + 1);
        ch.force(true);
        torn = Optional.of(new TornTail(records.size() + 1, fragment.length, aside));
        LOG.warn("{}: line {} was torn by an interrupted write ({} bytes); moved to {}", file, records.size() + 1, fragment.length, aside);
      }
      ch.position(ch.size());
      return new ComparisonStore(file, ch, lock, clock, new ArrayList<>(records), torn);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open comparison store " + file, e);
    }
  }

  private static List<StoredComparison> parse(Path file, String text) {
    List<StoredComparison> out = new ArrayList<>();
    String[] lines = text.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i];
      if (line.isBlank()) {
        continue;
      }
      long n = i + 1;
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
    try {
      ByteBuffer buf = ByteBuffer.wrap((JSON.writeValueAsString(o) + "\n").getBytes(StandardCharsets.UTF_8));
      while (buf.hasRemaining()) {
        channel.write(buf);
      }
      channel.force(false);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot append to comparison store " + file, e);
    }
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
      b.add(c.toRanking(file.getFileName().toString()));
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
    return file;
  }

  @Override
  public synchronized void close() {
    try {
      lock.release();
      channel.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
