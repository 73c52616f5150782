package org.rlhf4j.examples.labelling;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.ImmutableList;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.reward.eval.WinRate;
import org.rlhf4j.reward.feedback.AbChoice;
import org.rlhf4j.reward.feedback.AbItem;
import org.rlhf4j.reward.feedback.AbJudgement;
import org.rlhf4j.reward.feedback.AbStore;

/**
 * A blind A/B evaluation answered on the labelling page: people see two policies' responses to the
 * same prompt, in an order drawn per item from a seeded generator, without the policies' names, and
 * pick the better one (or call a tie, or skip). Every verdict goes to an {@link AbStore} (forced to
 * disk before {@link #choose} returns); items already judged there (a restarted session) are not
 * shown again. The win rate comes from the stored verdicts. Thread-safe.
 */
public final class AbSession {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Judged, skipped and total item counts. */
  public record Progress(int judged, int skipped, int total) {}

  private final AbStore store;
  private final String policy;
  private final String other;
  private final String labellerName;
  private final LinkedHashMap<String, AbItem> items = new LinkedHashMap<>();
  private final Set<String> skipped = new HashSet<>();

  /**
   * A session over {@code items} (as they are to be shown) comparing {@code policy} with {@code
   * other}; verdicts are stored in {@code store} as given by {@code labellerName}. The caller keeps
   * ownership of the store.
   *
   * @throws IllegalArgumentException if an id repeats, an item compares other policies, or an item is
   *     already judged in the store with a different prompt or responses
   */
  public AbSession(AbStore store, List<AbItem> items, String policy, String other, String labellerName) {
    this.store = checkNotNull(store, "store");
    checkNotNull(items, "items");
    checkArgument(labellerName != null && !labellerName.isBlank(), "labellerName must be named");
    checkArgument(policy != null && other != null && !policy.equals(other), "two different policies must be named, got %s and %s", policy, other);
    this.policy = policy;
    this.other = other;
    this.labellerName = labellerName;
    for (AbItem it : items) {
      checkNotNull(it, "items must not contain null");
      checkArgument(Set.of(policy, other).equals(Set.of(it.policyA(), it.policyB())), "item %s compares %s with %s, not %s with %s", it.itemId(), it.policyA(), it.policyB(), policy, other);
      checkArgument(this.items.putIfAbsent(it.itemId(), it) == null, "item %s appears twice", it.itemId());
      store.judgement(it.itemId()).ifPresent(j -> checkArgument(
          j.item().prompt().equals(it.prompt()) && Set.of(j.item().responseA(), j.item().responseB()).equals(Set.of(it.responseA(), it.responseB())),
          "item %s is already in %s with a different prompt or responses", it.itemId(), store.file()));
    }
  }

  /**
   * The A/B items of two sample files in the quick-start's format (JSON lines with {@code prompt} and
   * {@code response}; other fields such as {@code score} and {@code kl} are ignored), paired line by
   * line: line {@code i} of both files must hold the same prompt. Item {@code i} gets id {@code
   * ab-<i>}, and which policy is shown as A is drawn from a generator seeded with {@code seed}.
   *
   * @throws DataFormatException naming the file and line for a malformed line, a missing field or
   *     prompts that differ
   * @throws IllegalArgumentException if the files hold different numbers of samples, or none
   */
  public static List<AbItem> pairSamples(Path samplesA, String policyA, Path samplesB, String policyB, long seed) {
    List<String[]> a = readSamples(samplesA);
    List<String[]> b = readSamples(samplesB);
    checkArgument(a.size() == b.size(), "%s has %s samples but %s has %s; A/B needs both policies' responses to the same prompts", samplesA, a.size(), samplesB, b.size());
    checkArgument(!a.isEmpty(), "%s holds no samples", samplesA);
    SplittableRandom rng = new SplittableRandom(seed);
    List<AbItem> out = new ArrayList<>(a.size());
    for (int i = 0; i < a.size(); i++) {
      String prompt = a.get(i)[0];
      if (!prompt.equals(b.get(i)[0])) {
        throw new DataFormatException(samplesB.toString(), i + 1, "prompt differs from line " + (i + 1) + " of " + samplesA + ": " + abbreviate(b.get(i)[0]) + " vs " + abbreviate(prompt));
      }
      boolean swap = rng.nextBoolean();
      out.add(swap
          ? new AbItem("ab-" + (i + 1), prompt, policyB, b.get(i)[1], policyA, a.get(i)[1])
          : new AbItem("ab-" + (i + 1), prompt, policyA, a.get(i)[1], policyB, b.get(i)[1]));
    }
    return out;
  }

  /** Each non-blank line's {prompt, response}. */
  private static List<String[]> readSamples(Path file) {
    List<String[]> out = new ArrayList<>();
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      long n = 0;
      while ((line = r.readLine()) != null) {
        n++;
        if (line.isBlank()) {
          continue;
        }
        JsonNode o;
        try {
          o = JSON.readTree(line);
        } catch (IOException e) {
          throw new DataFormatException(file.toString(), n, "not a JSON object: " + abbreviate(line));
        }
        for (String field : List.of("prompt", "response")) {
          if (o == null || !o.isObject() || o.get(field) == null || !o.get(field).isTextual()) {
            throw new DataFormatException(file.toString(), n, "field \"" + field + "\" must be a string: " + abbreviate(line));
          }
        }
        out.add(new String[] {o.get("prompt").asText(), o.get("response").asText()});
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read samples " + file, e);
    }
    return out;
  }

  private static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 80) + "...";
  }

  /** The first item neither judged nor skipped, if any. */
  public synchronized Optional<AbItem> next() {
    return items.values().stream().filter(it -> !skipped.contains(it.itemId()) && store.judgement(it.itemId()).isEmpty()).findFirst();
  }

  private AbItem waiting(String itemId) {
    checkNotNull(itemId, "itemId");
    AbItem it = items.get(itemId);
    if (it == null) {
      throw new LabelRejectedException(LabelRejectedException.Reason.UNKNOWN_ITEM, "no A/B item " + itemId);
    }
    if (skipped.contains(itemId) || store.judgement(itemId).isPresent()) {
      throw new LabelRejectedException(LabelRejectedException.Reason.ALREADY_ANSWERED, "item " + itemId + " has already been answered");
    }
    return it;
  }

  /**
   * Stores a verdict on a waiting item; returns once it is on disk.
   *
   * @throws LabelRejectedException if the item is unknown or already answered
   * @throws java.io.UncheckedIOException if the store cannot be written; the item stays waiting
   */
  public synchronized AbJudgement choose(String itemId, AbChoice choice) {
    checkNotNull(choice, "choice");
    AbJudgement j = store.append(waiting(itemId), choice, labellerName);
    notifyAll();
    return j;
  }

  /**
   * Skips a waiting item for this session (nothing is stored; a restarted session shows it again).
   *
   * @throws LabelRejectedException if the item is unknown or already answered
   */
  public synchronized void skip(String itemId) {
    waiting(itemId);
    skipped.add(itemId);
    notifyAll();
  }

  /** Judged (in the store), skipped and total counts over this session's items. */
  public synchronized Progress progress() {
    int judged = (int) items.keySet().stream().filter(id -> store.judgement(id).isPresent()).count();
    return new Progress(judged, skipped.size(), items.size());
  }

  /** Whether every item is judged or skipped. */
  public synchronized boolean finished() {
    return next().isEmpty();
  }

  /** Blocks until every item is judged or skipped. */
  public synchronized void awaitFinished() throws InterruptedException {
    while (!finished()) {
      wait();
    }
  }

  /** The win rate of the first policy over the second, from every verdict between them in the store. */
  public WinRate report() {
    return store.winRate(policy, other);
  }

  /** The items, as shown (A first). */
  public synchronized ImmutableList<AbItem> items() {
    return ImmutableList.copyOf(items.values());
  }

  /** The two policies, in the report's order. */
  public List<String> policies() {
    return List.of(policy, other);
  }

  /** A plain-text line for the report: win rate, interval and counts. */
  public static String describe(WinRate w) {
    if (w.n() == 0) {
      return w.nameA() + " vs " + w.nameB() + ": no verdicts yet";
    }
    return String.format(Locale.ROOT, "%s vs %s: win rate %.1f%% (95%% CI %.1f%%-%.1f%%) from %d verdicts: %d wins, %d losses, %d ties",
        w.nameA(), w.nameB(), 100 * w.rate(), 100 * w.low(), 100 * w.high(), w.n(), w.wins(), w.losses(), w.ties());
  }

  /** The report as JSON: {@code {"policy", "other", "wins", "losses", "ties", "n", "winRate", "low", "high"}}. */
  public static Map<String, Object> toMap(WinRate w) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("policy", w.nameA());
    m.put("other", w.nameB());
    m.put("wins", w.wins());
    m.put("losses", w.losses());
    m.put("ties", w.ties());
    m.put("n", w.n());
    m.put("winRate", w.n() == 0 ? null : w.rate());
    m.put("low", w.low());
    m.put("high", w.high());
    return m;
  }
}
