package org.rlhf4j.examples.labelling;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.reward.feedback.ComparisonStore;
import org.rlhf4j.reward.feedback.LabelRequest;
import org.rlhf4j.reward.feedback.LabelResult;
import org.rlhf4j.reward.feedback.Labeller;
import org.rlhf4j.reward.feedback.StoredComparison;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link Labeller} answered by people through the labelling page ({@link LabellingServer}).
 *
 * <p>{@link #labelAll} publishes its items to a first-in, first-out queue and blocks until each has
 * been ranked or skipped through {@link #rank} or {@link #skip}; the results come back in request
 * order. An accepted ranking is appended to the {@link ComparisonStore} (which forces it to disk)
 * before {@link #rank} returns, so the page is only told "saved" once the ranking is durable. An
 * item whose ranking is already in the store with the same prompt and responses (a loop resumed
 * after a crash) is answered from the store without being shown again.
 *
 * <p>Several threads may call {@link #labelAll} at once and any number of HTTP threads may answer;
 * every method is thread-safe. Interrupting a thread blocked in {@link #labelAll} withdraws its
 * unanswered items from the queue and raises an {@link RlhfException}.
 *
 * <p>For the page it also keeps the current round's {@link RoundProgress} (the round is that of
 * the most recently published item) and a {@link TrainingStatus} set by the training loop.
 */
public final class WebLabeller implements Labeller {
  private static final Logger LOG = LoggerFactory.getLogger(WebLabeller.class);

  /** One labelAll call's items and answers. */
  private static final class Batch {
    final LabelResult[] results;
    int remaining;

    Batch(int size) {
      results = new LabelResult[size];
      remaining = size;
    }
  }

  /** A published, unanswered item and where its answer goes. */
  private record Pending(LabelRequest request, Batch batch, int index) {}

  /** Published, answered and skipped counts of one round. */
  private static final class Counts {
    int total;
    int labelled;
    int skipped;
  }

  private final ComparisonStore store;
  private final String labellerName;
  private final LinkedHashMap<String, Pending> pending = new LinkedHashMap<>();
  private final Set<String> answered = new HashSet<>();
  private final Map<Integer, Counts> rounds = new HashMap<>();
  private OptionalInt currentRound = OptionalInt.empty();
  private TrainingStatus status = TrainingStatus.NONE;

  /**
   * A labeller whose accepted rankings go to {@code store}, recorded as answered by {@code
   * labellerName} (a person's or team's id). The caller keeps ownership of the store.
   */
  public WebLabeller(ComparisonStore store, String labellerName) {
    this.store = checkNotNull(store, "store");
    checkArgument(labellerName != null && !labellerName.isBlank(), "labellerName must be named");
    this.labellerName = labellerName;
  }

  /** Publishes {@code request} and blocks until a person ranks or skips it. */
  @Override
  public LabelResult label(LabelRequest request) {
    return labelAll(List.of(request)).get(0);
  }

  /**
   * Publishes every request and blocks until each has been ranked or skipped on the page.
   *
   * @return the answers, in the order of {@code requests}
   * @throws IllegalArgumentException if an item id repeats, is already waiting, or is in the store
   *     with a different prompt or responses; nothing is published then
   * @throws RlhfException if the thread is interrupted while waiting (its items are withdrawn)
   */
  @Override
  public List<LabelResult> labelAll(List<LabelRequest> requests) {
    checkNotNull(requests, "requests");
    if (requests.isEmpty()) {
      return List.of();
    }
    Batch batch = new Batch(requests.size());
    synchronized (this) {
      Map<String, StoredComparison> stored = validate(requests);
      for (int i = 0; i < requests.size(); i++) {
        LabelRequest r = requests.get(i);
        currentRound = OptionalInt.of(r.round());
        rounds.computeIfAbsent(r.round(), k -> new Counts()).total++;
        answered.remove(r.itemId()); // re-asking a skipped item
        StoredComparison s = stored.get(r.itemId());
        if (s != null) {
          LOG.info("item {} is already ranked in {}: answered from the store", r.itemId(), store.file());
          complete(new Pending(r, batch, i), new LabelResult(r.itemId(), s.order(), s.labeller()));
        } else {
          pending.put(r.itemId(), new Pending(r, batch, i));
        }
      }
      LOG.info("{} items published for labelling ({} waiting in all)", requests.size(), pending.size());
      notifyAll();
      while (batch.remaining > 0) {
        try {
          wait();
        } catch (InterruptedException e) {
          int withdrawn = withdraw(batch);
          Thread.currentThread().interrupt();
          throw new RlhfException("interrupted while waiting for labels; " + withdrawn + " unanswered items withdrawn", e);
        }
      }
    }
    return Arrays.asList(batch.results.clone());
  }

  /** Checks a batch before anything is published; returns its items already in the store. */
  private Map<String, StoredComparison> validate(List<LabelRequest> requests) {
    Set<String> ids = new HashSet<>();
    Map<String, StoredComparison> stored = new HashMap<>();
    Map<String, StoredComparison> inStore = null;
    for (LabelRequest r : requests) {
      checkNotNull(r, "requests must not contain null");
      checkNotNull(r.prompt(), "item %s: prompt must not be null", r.itemId());
      checkArgument(ids.add(r.itemId()), "item %s appears twice in the batch", r.itemId());
      checkArgument(!pending.containsKey(r.itemId()), "item %s is already waiting for a label", r.itemId());
      if (store.contains(r.itemId())) {
        if (inStore == null) {
          inStore = new HashMap<>();
          for (StoredComparison c : store.records()) {
            inStore.put(c.itemId(), c);
          }
        }
        StoredComparison c = inStore.get(r.itemId());
        checkArgument(Objects.equals(c.prompt(), r.prompt()) && c.responses().equals(r.responses()),
            "item %s is already in %s with a different prompt or responses", r.itemId(), store.file());
        stored.put(r.itemId(), c);
      }
    }
    return stored;
  }

  /** Removes a batch's unanswered items from the queue and from its round's total. */
  private int withdraw(Batch batch) {
    List<String> ids = new ArrayList<>();
    pending.forEach((id, p) -> {
      if (p.batch() == batch) {
        ids.add(id);
      }
    });
    for (String id : ids) {
      Pending p = pending.remove(id);
      rounds.get(p.request().round()).total--;
    }
    return ids.size();
  }

  private void complete(Pending p, LabelResult result) {
    answered.add(p.request().itemId());
    Counts c = rounds.get(p.request().round());
    c.labelled++;
    if (result.isSkip()) {
      c.skipped++;
    }
    p.batch().results[p.index()] = result;
    p.batch().remaining--;
    notifyAll();
  }

  private Pending lookUp(String itemId) {
    checkNotNull(itemId, "itemId");
    Pending p = pending.get(itemId);
    if (p != null) {
      return p;
    }
    if (answered.contains(itemId)) {
      throw new LabelRejectedException(LabelRejectedException.Reason.ALREADY_ANSWERED, "item " + itemId + " has already been answered");
    }
    throw new LabelRejectedException(LabelRejectedException.Reason.UNKNOWN_ITEM, "no item " + itemId + " is waiting for a label");
  }

  /**
   * Records a person's ranking of a waiting item: stores it durably, then wakes the {@link
   * #labelAll} waiting for it.
   *
   * @param order indices of the item's responses, best first
   * @return the accepted result
   * @throws LabelRejectedException if the item is unknown or already answered, or {@code order} is
   *     not a permutation of its responses; nothing changes then
   * @throws java.io.UncheckedIOException if the store cannot be written; the item stays waiting
   */
  public synchronized LabelResult rank(String itemId, List<Integer> order) {
    Pending p = lookUp(itemId);
    LabelResult result;
    try {
      result = LabelResult.ranked(p.request(), order, labellerName);
    } catch (IllegalArgumentException e) {
      throw new LabelRejectedException(LabelRejectedException.Reason.INVALID_RANKING, "item " + itemId + ": " + e.getMessage());
    }
    store.append(p.request(), result);
    pending.remove(itemId);
    complete(p, result);
    LOG.debug("item {} ranked {}", itemId, result.order());
    return result;
  }

  /**
   * Records that a person skipped a waiting item (nothing is stored).
   *
   * @throws LabelRejectedException if the item is unknown or already answered
   */
  public synchronized LabelResult skip(String itemId) {
    Pending p = lookUp(itemId);
    LabelResult result = LabelResult.skipped(p.request(), labellerName);
    pending.remove(itemId);
    complete(p, result);
    LOG.debug("item {} skipped", itemId);
    return result;
  }

  /** The oldest item still waiting for an answer, if any. */
  public synchronized Optional<LabelRequest> next() {
    return pending.values().stream().findFirst().map(Pending::request);
  }

  /** The ids of every waiting item, oldest first. */
  public synchronized ImmutableList<String> pendingItems() {
    return ImmutableList.copyOf(pending.keySet());
  }

  /** The current round's progress. */
  public synchronized RoundProgress progress() {
    if (currentRound.isEmpty()) {
      return RoundProgress.NONE;
    }
    Counts c = rounds.get(currentRound.getAsInt());
    return new RoundProgress(currentRound, c.labelled, c.skipped, c.total);
  }

  /** Replaces the status shown on the page (called by the training loop). */
  public synchronized void setStatus(TrainingStatus newStatus) {
    this.status = checkNotNull(newStatus, "status");
  }

  /** The status last set by the training loop ({@link TrainingStatus#NONE} at first). */
  public synchronized TrainingStatus status() {
    return status;
  }

  /** The name recorded as the labeller of every answer. */
  public String labellerName() {
    return labellerName;
  }
}
