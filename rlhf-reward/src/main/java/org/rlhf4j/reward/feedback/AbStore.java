package org.rlhf4j.reward.feedback;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.reward.eval.WinRate;

/**
 * A durable, append-only JSON Lines file of blind A/B verdicts, with the same guarantees as {@link
 * ComparisonStore}: {@link #append} returns only once the line is forced to disk; a failed append is
 * cut back out of the file; a torn last line is moved aside on open; the file is locked against a
 * second opener in this or another process; use after {@link #close} throws.
 *
 * <p>Line format: {@code {"seq":1,"item":"ab-3","prompt":"...","policy_a":"ppo","response_a":"...",
 * "policy_b":"sft","response_b":"...","choice":"A","labeller":"ann","timestamp":"2026-11-27T10:00:00Z"}}
 * ({@code choice} is {@code "A"}, {@code "B"} or {@code "tie"}; A is the response shown first).
 */
public final class AbStore implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final DurableLog log;
  private final Clock clock;
  private final List<AbJudgement> records;
  private final Map<String, AbJudgement> byItem = new HashMap<>();

  private AbStore(DurableLog log, Clock clock, List<AbJudgement> records) {
    this.log = log;
    this.clock = clock;
    this.records = records;
    records.forEach(j -> byItem.put(j.item().itemId(), j));
  }

  /** Opens (or creates) the store at {@code file}. */
  public static AbStore open(Path file) {
    return open(file, Clock.systemUTC());
  }

  /**
   * Opens (or creates) the store at {@code file}, stamping verdicts with {@code clock}.
   *
   * @throws RlhfException if the store is locked by another process or already open in this one
   * @throws DataFormatException naming the line if a complete line is not a valid verdict, or an
   *     item id repeats
   */
  public static AbStore open(Path file, Clock clock) {
    return open(file, clock, DurableLog.Io.DIRECT);
  }

  /** As {@link #open(Path, Clock)} with the given file operations (tests inject failing writes). */
  static AbStore open(Path file, Clock clock, DurableLog.Io io) {
    checkNotNull(clock, "clock");
    DurableLog log = DurableLog.open(file, "A/B store", io);
    try {
      return new AbStore(log, clock, parse(file, log.lines()));
    } catch (RuntimeException e) {
      log.close();
      throw e;
    }
  }

  private static List<AbJudgement> parse(Path file, List<DurableLog.Line> lines) {
    List<AbJudgement> out = new ArrayList<>();
    Map<String, Long> seen = new HashMap<>();
    for (DurableLog.Line l : lines) {
      if (l.text().isBlank()) {
        continue;
      }
      AbJudgement j;
      try {
        JsonNode o = JSON.readTree(l.text());
        AbItem item = new AbItem(text(o, "item"), text(o, "prompt"), text(o, "policy_a"), text(o, "response_a"), text(o, "policy_b"), text(o, "response_b"));
        j = new AbJudgement(o.get("seq").asLong(), item, AbChoice.parse(text(o, "choice")), text(o, "labeller"), Instant.parse(text(o, "timestamp")));
      } catch (IOException | RuntimeException e) {
        throw new DataFormatException(file.toString(), l.number(), "malformed A/B record (" + e.getMessage() + "): " + abbreviate(l.text()));
      }
      Long first = seen.putIfAbsent(j.item().itemId(), l.number());
      if (first != null) {
        throw new DataFormatException(file.toString(), l.number(), "item " + j.item().itemId() + " was already judged on line " + first);
      }
      out.add(j);
    }
    return out;
  }

  private static String text(JsonNode o, String field) {
    JsonNode v = o.get(field);
    if (v == null || !v.isTextual()) {
      throw new IllegalArgumentException("field \"" + field + "\" must be a string");
    }
    return v.asText();
  }

  private static String abbreviate(String s) {
    return s.length() <= 120 ? s : s.substring(0, 120) + "...";
  }

  /**
   * Stores a verdict on {@code item} and returns once it is on disk.
   *
   * @throws IllegalArgumentException if the item was already judged
   * @throws UncheckedIOException if it could not be written and forced; nothing of it is kept then
   * @throws IllegalStateException if the store is closed
   */
  public synchronized AbJudgement append(AbItem item, AbChoice choice, String labeller) {
    checkNotNull(item, "item");
    checkNotNull(choice, "choice");
    checkArgument(labeller != null && !labeller.isBlank(), "labeller must be named");
    checkArgument(!byItem.containsKey(item.itemId()), "item %s was already judged in %s", item.itemId(), log.file());
    AbJudgement j = new AbJudgement(records.size() + 1, item, choice, labeller, clock.instant());
    ObjectNode o = JSON.createObjectNode();
    o.put("seq", j.sequence());
    o.put("item", item.itemId());
    o.put("prompt", item.prompt());
    o.put("policy_a", item.policyA());
    o.put("response_a", item.responseA());
    o.put("policy_b", item.policyB());
    o.put("response_b", item.responseB());
    o.put("choice", choice.wireName());
    o.put("labeller", labeller);
    o.put("timestamp", j.timestamp().toString());
    String line;
    try {
      line = JSON.writeValueAsString(o);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode the A/B record of item " + item.itemId(), e);
    }
    log.append(line);
    records.add(j);
    byItem.put(item.itemId(), j);
    return j;
  }

  /** Every stored verdict, oldest first. */
  public synchronized ImmutableList<AbJudgement> records() {
    return ImmutableList.copyOf(records);
  }

  /** The verdict on {@code itemId}, if stored. */
  public synchronized Optional<AbJudgement> judgement(String itemId) {
    return Optional.ofNullable(byItem.get(itemId));
  }

  /** The number of stored verdicts. */
  public synchronized int size() {
    return records.size();
  }

  /**
   * The win rate of {@code policy} over {@code other} from every stored verdict between the two
   * (whichever was shown as A); a tie counts half to each, with a Wilson 95 % interval.
   */
  public synchronized WinRate winRate(String policy, String other) {
    checkNotNull(policy, "policy");
    checkNotNull(other, "other");
    checkArgument(!policy.equals(other), "the two policies must differ, both are %s", policy);
    int wins = 0;
    int losses = 0;
    int ties = 0;
    for (AbJudgement j : records) {
      AbItem it = j.item();
      boolean pair = (it.policyA().equals(policy) && it.policyB().equals(other)) || (it.policyA().equals(other) && it.policyB().equals(policy));
      if (!pair) {
        continue;
      }
      String winner = it.winner(j.choice());
      if (winner == null) {
        ties++;
      } else if (winner.equals(policy)) {
        wins++;
      } else {
        losses++;
      }
    }
    return WinRate.of(policy, other, wins, losses, ties);
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
