package org.rlhf4j.examples.labelling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.reward.feedback.ComparisonStore;
import org.rlhf4j.reward.feedback.LabelRequest;
import org.rlhf4j.reward.feedback.LabelResult;

class LabellingWebLabellerTest {
  @TempDir Path tmp;
  private ComparisonStore store;
  private WebLabeller labeller;
  private final ExecutorService loop = Executors.newSingleThreadExecutor();

  @BeforeEach
  void open() {
    store = ComparisonStore.open(tmp.resolve("comparisons.jsonl"));
    labeller = new WebLabeller(store, "ann");
  }

  @AfterEach
  void close() {
    loop.shutdownNow();
    store.close();
  }

  static LabelRequest request(String id, int round, String... responses) {
    return LabelRequest.of(id, "prompt of " + id, List.of(responses), round, "policy-" + round);
  }

  /** Waits until the labeller has exactly {@code ids} waiting. */
  static void awaitPending(WebLabeller labeller, List<String> ids) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!labeller.pendingItems().equals(ids)) {
      assertTrue(System.nanoTime() < deadline, "still waiting: " + labeller.pendingItems() + ", expected " + ids);
      Thread.sleep(5);
    }
  }

  @Test
  void labelAllBlocksUntilEveryItemIsAnsweredAndKeepsRequestOrder() throws Exception {
    List<LabelRequest> batch = List.of(request("a", 2, "x", "y"), request("b", 2, "x", "y", "z"), request("c", 2, "p", "q"));
    Future<List<LabelResult>> results = loop.submit(() -> labeller.labelAll(batch));
    awaitPending(labeller, List.of("a", "b", "c"));
    assertEquals("a", labeller.next().orElseThrow().itemId());
    assertEquals(new RoundProgress(OptionalInt.of(2), 0, 0, 3), labeller.progress());

    labeller.skip("b");
    labeller.rank("c", List.of(1, 0));
    assertEquals(1, store.size(), "c is on disk as soon as rank returns");
    assertEquals("a", labeller.next().orElseThrow().itemId());
    assertTrue(!results.isDone(), "a is still unanswered");
    labeller.rank("a", List.of(0, 1));

    List<LabelResult> r = results.get(10, TimeUnit.SECONDS);
    assertEquals(List.of("a", "b", "c"), r.stream().map(LabelResult::itemId).toList());
    assertEquals(List.of(0, 1), r.get(0).order());
    assertTrue(r.get(1).isSkip());
    assertEquals(List.of(1, 0), r.get(2).order());
    assertEquals("ann", r.get(0).labeller());
    assertEquals(List.of("c", "a"), store.records().stream().map(c -> c.itemId()).toList());
    assertEquals(new RoundProgress(OptionalInt.of(2), 3, 1, 3), labeller.progress());
    assertTrue(labeller.next().isEmpty());
  }

  @Test
  void badAnswersAreRejectedWithAReasonAndChangeNothing() throws Exception {
    Future<LabelResult> result = loop.submit(() -> labeller.label(request("a", 0, "x", "y", "z")));
    awaitPending(labeller, List.of("a"));
    assertEquals(LabelRejectedException.Reason.UNKNOWN_ITEM, assertThrows(LabelRejectedException.class, () -> labeller.rank("zz", List.of(0, 1))).reason());
    assertEquals(LabelRejectedException.Reason.UNKNOWN_ITEM, assertThrows(LabelRejectedException.class, () -> labeller.skip("zz")).reason());
    for (List<Integer> bad : List.of(List.of(0, 1), List.of(0, 1, 1), List.of(0, 1, 3), List.of(0, 1, 2, 3))) {
      LabelRejectedException e = assertThrows(LabelRejectedException.class, () -> labeller.rank("a", bad), bad.toString());
      assertEquals(LabelRejectedException.Reason.INVALID_RANKING, e.reason());
    }
    assertEquals(0, store.size());
    assertEquals(List.of("a"), labeller.pendingItems());
    assertEquals(new RoundProgress(OptionalInt.of(0), 0, 0, 1), labeller.progress());

    labeller.rank("a", List.of(2, 1, 0));
    assertEquals(List.of(2, 1, 0), result.get(10, TimeUnit.SECONDS).order());
    assertEquals(LabelRejectedException.Reason.ALREADY_ANSWERED, assertThrows(LabelRejectedException.class, () -> labeller.rank("a", List.of(0, 1, 2))).reason());
    assertEquals(LabelRejectedException.Reason.ALREADY_ANSWERED, assertThrows(LabelRejectedException.class, () -> labeller.skip("a")).reason());
    assertEquals(1, store.size());
  }

  @Test
  void invalidBatchesPublishNothing() throws Exception {
    assertEquals(List.of(), labeller.labelAll(List.of()));
    assertThrows(IllegalArgumentException.class, () -> labeller.labelAll(List.of(request("a", 0, "x", "y"), request("a", 0, "x", "y"))));
    assertEquals(List.of(), labeller.pendingItems());
    assertEquals(RoundProgress.NONE, labeller.progress());

    Future<LabelResult> first = loop.submit(() -> labeller.label(request("a", 0, "x", "y")));
    awaitPending(labeller, List.of("a"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> labeller.labelAll(List.of(request("b", 0, "x", "y"), request("a", 0, "x", "y"))));
    assertTrue(e.getMessage().contains("already waiting"), e.getMessage());
    assertEquals(List.of("a"), labeller.pendingItems());
    labeller.skip("a");
    assertTrue(first.get(10, TimeUnit.SECONDS).isSkip());
  }

  @Test
  void itemsAlreadyRankedInTheStoreAreAnsweredFromIt() {
    LabelRequest a = request("a", 1, "x", "y", "z");
    store.append(a, LabelResult.ranked(a, List.of(2, 0, 1), "bob"));
    List<LabelResult> r = labeller.labelAll(List.of(a));
    assertEquals(new LabelResult("a", r.get(0).order(), "bob"), r.get(0));
    assertEquals(List.of(2, 0, 1), r.get(0).order());
    assertEquals(1, store.size(), "nothing stored twice");
    assertEquals(new RoundProgress(OptionalInt.of(1), 1, 0, 1), labeller.progress());

    LabelRequest changed = request("a", 1, "x", "y", "other");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> labeller.label(changed));
    assertTrue(e.getMessage().contains("different prompt or responses"), e.getMessage());
    assertEquals(List.of(), labeller.pendingItems());
  }

  @Test
  void aSkippedItemCanBeAskedAgain() throws Exception {
    Future<LabelResult> first = loop.submit(() -> labeller.label(request("a", 0, "x", "y")));
    awaitPending(labeller, List.of("a"));
    labeller.skip("a");
    assertTrue(first.get(10, TimeUnit.SECONDS).isSkip());
    Future<LabelResult> again = loop.submit(() -> labeller.label(request("a", 0, "x", "y")));
    awaitPending(labeller, List.of("a"));
    labeller.rank("a", List.of(1, 0));
    assertEquals(List.of(1, 0), again.get(10, TimeUnit.SECONDS).order());
    assertEquals(new RoundProgress(OptionalInt.of(0), 2, 1, 2), labeller.progress());
  }

  @Test
  void progressFollowsTheLatestRound() throws Exception {
    Future<List<LabelResult>> one = loop.submit(() -> labeller.labelAll(List.of(request("r1-a", 1, "x", "y"), request("r1-b", 1, "x", "y"))));
    awaitPending(labeller, List.of("r1-a", "r1-b"));
    labeller.rank("r1-a", List.of(0, 1));
    labeller.rank("r1-b", List.of(1, 0));
    one.get(10, TimeUnit.SECONDS);
    assertEquals(new RoundProgress(OptionalInt.of(1), 2, 0, 2), labeller.progress());
    Future<List<LabelResult>> two = loop.submit(() -> labeller.labelAll(List.of(request("r2-a", 2, "x", "y"), request("r2-b", 2, "x", "y"), request("r2-c", 2, "x", "y"))));
    awaitPending(labeller, List.of("r2-a", "r2-b", "r2-c"));
    assertEquals(new RoundProgress(OptionalInt.of(2), 0, 0, 3), labeller.progress());
    assertEquals(3, labeller.progress().remaining());
    two.cancel(true);
  }

  @Test
  void interruptingTheLoopWithdrawsItsItems() throws Exception {
    Future<List<LabelResult>> results = loop.submit(() -> labeller.labelAll(List.of(request("a", 3, "x", "y"), request("b", 3, "x", "y"))));
    awaitPending(labeller, List.of("a", "b"));
    labeller.skip("a");
    results.cancel(true);
    awaitPending(labeller, List.of());
    assertEquals(new RoundProgress(OptionalInt.of(3), 1, 1, 1), labeller.progress());
    assertEquals(LabelRejectedException.Reason.UNKNOWN_ITEM, assertThrows(LabelRejectedException.class, () -> labeller.skip("b")).reason());

    Future<?> interrupted = loop.submit(() -> {
      Thread.currentThread().interrupt();
      RlhfException e = assertThrows(RlhfException.class, () -> labeller.label(request("c", 3, "x", "y")));
      assertTrue(e.getMessage().contains("1 unanswered items withdrawn"), e.getMessage());
      assertTrue(Thread.interrupted(), "the interrupt flag is restored");
    });
    interrupted.get(10, TimeUnit.SECONDS);
    assertEquals(List.of(), labeller.pendingItems());
  }

  @Test
  void statusIsValidatedAndReplacedWhole() {
    assertEquals(TrainingStatus.NONE, labeller.status());
    TrainingStatus s = TrainingStatus.NONE.withStage("Round 1: training the reward model").withRewardModelAccuracy(0.7);
    labeller.setStatus(s);
    assertEquals(OptionalDouble.of(0.7), labeller.status().rewardModelAccuracy());
    assertEquals(OptionalDouble.empty(), labeller.status().ppoScore());
    labeller.setStatus(s.withPpoScore(-0.25));
    assertEquals(OptionalDouble.of(-0.25), labeller.status().ppoScore());
    assertThrows(IllegalArgumentException.class, () -> s.withRewardModelAccuracy(1.5));
    assertThrows(IllegalArgumentException.class, () -> s.withPpoScore(Double.NaN));
    assertThrows(NullPointerException.class, () -> labeller.setStatus(null));
    assertThrows(IllegalArgumentException.class, () -> new WebLabeller(store, " "));
  }

  @Test
  void manyAnsweringThreadsEachItemAnsweredOnce() throws Exception {
    int n = 40;
    List<LabelRequest> batch = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      batch.add(request("i" + i, 5, "x", "y"));
    }
    Future<List<LabelResult>> results = loop.submit(() -> labeller.labelAll(batch));
    awaitPending(labeller, batch.stream().map(LabelRequest::itemId).toList());
    ExecutorService answerers = Executors.newFixedThreadPool(4);
    AtomicInteger accepted = new AtomicInteger();
    AtomicInteger conflicts = new AtomicInteger();
    try {
      List<Future<?>> fs = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        fs.add(answerers.submit(() -> {
          for (int i = 0; i < n; i++) {
            try {
              labeller.rank("i" + i, List.of(i % 2, 1 - i % 2));
              accepted.incrementAndGet();
            } catch (LabelRejectedException e) {
              assertEquals(LabelRejectedException.Reason.ALREADY_ANSWERED, e.reason());
              conflicts.incrementAndGet();
            }
          }
        }));
      }
      for (Future<?> f : fs) {
        f.get(30, TimeUnit.SECONDS);
      }
    } catch (ExecutionException e) {
      throw new AssertionError(e.getCause());
    } finally {
      answerers.shutdownNow();
    }
    assertEquals(n, accepted.get());
    assertEquals(3 * n, conflicts.get());
    assertEquals(n, results.get(10, TimeUnit.SECONDS).size());
    assertEquals(n, store.size());
    assertEquals(n, store.records().stream().map(c -> c.itemId()).distinct().count());
  }
}
