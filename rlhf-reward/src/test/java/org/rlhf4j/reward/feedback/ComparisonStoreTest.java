package org.rlhf4j.reward.feedback;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.reward.data.Ranking;

class ComparisonStoreTest {
  @TempDir Path tmp;

  private static LabelRequest request(String id) {
    return LabelRequest.of(id, "Tell me about " + id, List.of("first\nline", "second \"quoted\"", "third ünïcødé"), 2, "round-2");
  }

  @Test
  void appendsSurviveReopeningAndBecomeRankings() {
    Path f = tmp.resolve("c.jsonl");
    try (ComparisonStore s = ComparisonStore.open(f)) {
      s.append(request("a"), LabelResult.ranked(request("a"), List.of(1, 2, 0), "ann"));
      s.append(request("b"), LabelResult.ranked(request("b"), List.of(0, 1, 2), "bob"));
    }
    try (ComparisonStore s = ComparisonStore.open(f)) {
      assertEquals(2, s.size());
      StoredComparison a = s.records().get(0);
      assertEquals("a", a.itemId());
      assertEquals(List.of(1, 2, 0), a.order());
      assertEquals("ann", a.labeller());
      assertEquals("round-2", a.modelVersion());
      assertEquals("first\nline", a.responses().get(0));
      Ranking r = s.rankings().get(0);
      assertEquals("second \"quoted\"", r.best());
      assertEquals(3, r.pairs().size());
      assertTrue(s.tornTail().isEmpty());
      assertTrue(s.contains("b") && !s.contains("c"));
    }
  }

  @Test
  void badRankingsAreRejectedAndChangeNothing() {
    try (ComparisonStore s = ComparisonStore.open(tmp.resolve("c.jsonl"))) {
      LabelRequest r = request("a");
      assertThrows(IllegalArgumentException.class, () -> LabelResult.ranked(r, List.of(0, 0, 1), "x"));
      assertThrows(IllegalArgumentException.class, () -> s.append(r, new LabelResult("a", com.google.common.collect.ImmutableList.of(0, 1), "x")));
      assertThrows(IllegalArgumentException.class, () -> s.append(r, LabelResult.skipped(r, "x")));
      assertEquals(0, s.size());
    }
  }

  @Test
  void concurrentAppendsFromManyThreadsAreAllKept() throws Exception {
    Path f = tmp.resolve("c.jsonl");
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try (ComparisonStore s = ComparisonStore.open(f)) {
      List<Future<?>> fs = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        final int thread = t;
        fs.add(pool.submit(() -> {
          for (int i = 0; i < 25; i++) {
            LabelRequest r = request("t" + thread + "-" + i);
            s.append(r, LabelResult.ranked(r, List.of(2, 1, 0), "t" + thread));
          }
        }));
      }
      for (Future<?> x : fs) {
        x.get();
      }
    } finally {
      pool.shutdown();
    }
    try (ComparisonStore s = ComparisonStore.open(f)) {
      assertEquals(200, s.size());
      Set<Long> seqs = new HashSet<>();
      Set<String> items = new HashSet<>();
      s.records().forEach(c -> {
        seqs.add(c.sequence());
        items.add(c.itemId());
      });
      assertEquals(200, seqs.size());
      assertEquals(200, items.size());
    }
  }

  @Test
  void aTornLastLineIsReportedMovedAsideAndTheStoreCarriesOn() throws IOException {
    Path f = tmp.resolve("c.jsonl");
    try (ComparisonStore s = ComparisonStore.open(f)) {
      s.append(request("a"), LabelResult.ranked(request("a"), List.of(0, 1, 2), "ann"));
    }
    Files.writeString(f, "{\"seq\":2,\"item\":\"b\",\"prom", StandardOpenOption.APPEND);
    try (ComparisonStore s = ComparisonStore.open(f)) {
      assertEquals(1, s.size());
      ComparisonStore.TornTail t = s.tornTail().orElseThrow();
      assertEquals(2, t.line());
      assertEquals("{\"seq\":2,\"item\":\"b\",\"prom", Files.readString(t.movedTo()));
      s.append(request("c"), LabelResult.ranked(request("c"), List.of(0, 1, 2), "ann"));
    }
    try (ComparisonStore s = ComparisonStore.open(f)) {
      assertEquals(List.of("a", "c"), s.records().stream().map(StoredComparison::itemId).toList());
      assertTrue(s.tornTail().isEmpty());
    }
  }

  @Test
  void aMalformedLineInTheMiddleIsAnErrorNamingIt() throws IOException {
    Path f = tmp.resolve("c.jsonl");
    try (ComparisonStore s = ComparisonStore.open(f)) {
      s.append(request("a"), LabelResult.ranked(request("a"), List.of(0, 1, 2), "ann"));
    }
    Files.writeString(f, "not json\n", StandardOpenOption.APPEND);
    try (ComparisonStore s = ComparisonStore.open(tmp.resolve("other.jsonl"))) {
      assertFalse(s.file().equals(f));
    }
    DataFormatException e = assertThrows(DataFormatException.class, () -> ComparisonStore.open(f));
    assertTrue(e.getMessage().contains("c.jsonl:2"), e.getMessage());
  }

  @Test
  void aSecondOpenIsRefusedWhileTheFirstHoldsTheFile() {
    Path f = tmp.resolve("c.jsonl");
    try (ComparisonStore s = ComparisonStore.open(f)) {
      RlhfException e = assertThrows(RlhfException.class, () -> ComparisonStore.open(f));
      assertTrue(e.getMessage().contains("locked"), e.getMessage());
    }
  }

  /** A store held by another JVM is refused with a clear error; once that JVM exits it opens. */
  @Test
  void aStoreHeldByAnotherProcessIsRefusedNamingTheFile() throws Exception {
    Path f = tmp.resolve("shared.jsonl");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), StoreHolderMain.class.getName(), f.toString())
        .redirectError(ProcessBuilder.Redirect.DISCARD)
        .start();
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      assertEquals("OPEN", out.readLine(), "the child opened the store");
      for (int attempt = 0; attempt < 3; attempt++) {
        RlhfException e = assertThrows(RlhfException.class, () -> ComparisonStore.open(f));
        assertTrue(e.getMessage().contains("locked by another process") && e.getMessage().contains(f.toString()), e.getMessage());
      }
    } finally {
      p.getOutputStream().close(); // the child closes its store and exits
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "child JVM did not exit");
    }
    assertEquals(0, p.exitValue());
    try (ComparisonStore s = ComparisonStore.open(f)) {
      assertEquals(1, s.size());
      s.append(request("after"), LabelResult.ranked(request("after"), List.of(0, 1, 2), "ann"));
    }
    try (ComparisonStore s = ComparisonStore.open(f)) {
      assertEquals(List.of("held-0", "after"), s.records().stream().map(StoredComparison::itemId).toList());
    }
  }

  /** File operations that write only part of the {@code failOn}-th append, then fail like a full disk. */
  private static final class ShortWrites implements DurableLog.Io {
    private final int failOn;
    private final boolean failForce;
    private int writes;
    private int forces;

    ShortWrites(int failOn, boolean failForce) {
      this.failOn = failOn;
      this.failForce = failForce;
    }

    @Override
    public int write(FileChannel ch, ByteBuffer buf, long position) throws IOException {
      if (!failForce && ++writes == failOn) {
        ByteBuffer half = buf.duplicate();
        half.limit(buf.position() + buf.remaining() / 2);
        int n = ch.write(half, position);
        buf.position(buf.position() + n);
        throw new IOException("No space left on device");
      }
      return ch.write(buf, position);
    }

    @Override
    public void force(FileChannel ch) throws IOException {
      if (failForce && ++forces == failOn) {
        throw new IOException("Input/output error");
      }
      ch.force(false);
    }
  }

  @Test
  void aFailedAppendLeavesNoPartialLineAndLaterAppendsWork() throws IOException {
    for (boolean failForce : new boolean[] {false, true}) {
      Path f = tmp.resolve("full-" + failForce + ".jsonl");
      try (ComparisonStore s = ComparisonStore.open(f, java.time.Clock.systemUTC(), new ShortWrites(2, failForce))) {
        s.append(request("a"), LabelResult.ranked(request("a"), List.of(0, 1, 2), "ann"));
        long good = Files.size(f);
        java.io.UncheckedIOException e = assertThrows(java.io.UncheckedIOException.class,
            () -> s.append(request("b"), LabelResult.ranked(request("b"), List.of(2, 1, 0), "ann")));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        assertEquals(good, Files.size(f), "the partial line was cut back out");
        assertEquals(1, s.size());
        assertFalse(s.contains("b"));
        s.append(request("c"), LabelResult.ranked(request("c"), List.of(1, 0, 2), "ann"));
        assertEquals(2, s.records().get(1).sequence());
      }
      try (ComparisonStore s = ComparisonStore.open(f)) {
        assertTrue(s.tornTail().isEmpty(), "nothing torn");
        assertEquals(List.of("a", "c"), s.records().stream().map(StoredComparison::itemId).toList());
      }
    }
  }

  @Test
  void useAfterCloseThrows() {
    ComparisonStore s = ComparisonStore.open(tmp.resolve("c.jsonl"));
    s.close();
    s.close();
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.append(request("a"), LabelResult.ranked(request("a"), List.of(0, 1, 2), "ann")));
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
  }

  /** Kills a writing child JVM mid-stream several times; every acknowledged record must be there. */
  @Test
  void killingTheWriterLosesNoAcknowledgedRecord() throws Exception {
    Path f = tmp.resolve("kill.jsonl");
    long acknowledged = 0;
    for (int round = 0; round < 3; round++) {
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), StoreWriterMain.class.getName(), f.toString())
          .redirectError(ProcessBuilder.Redirect.DISCARD)
          .start();
      try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        int acksThisRound = 0;
        String line;
        while ((line = out.readLine()) != null) {
          if (line.startsWith("ACK ")) {
            acknowledged = Math.max(acknowledged, Long.parseLong(line.substring(4)));
            if (++acksThisRound >= 15 + 7 * round) {
              p.destroyForcibly(); // SIGKILL, possibly in the middle of the next append
              break;
            }
          }
        }
      }
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "child JVM did not die");
      try (ComparisonStore s = ComparisonStore.open(f)) {
        assertTrue(s.size() >= acknowledged, "round " + round + ": " + s.size() + " records, " + acknowledged + " acknowledged");
        for (int i = 0; i < s.size(); i++) {
          assertEquals(i + 1, s.records().get(i).sequence());
        }
      }
    }
    assertTrue(acknowledged >= 15 + 22 + 29, "the child acknowledged " + acknowledged);
  }
}
