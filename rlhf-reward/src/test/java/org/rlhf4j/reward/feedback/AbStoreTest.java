package org.rlhf4j.reward.feedback;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.reward.eval.WinRate;

class AbStoreTest {
  @TempDir Path tmp;

  private static AbItem item(String id, boolean ppoFirst) {
    return ppoFirst
        ? new AbItem(id, "prompt " + id, "ppo", "ppo says \"" + id + "\"\nsecond line", "sft", "sft says " + id)
        : new AbItem(id, "prompt " + id, "sft", "sft says " + id, "ppo", "ppo says \"" + id + "\"\nsecond line");
  }

  @Test
  void verdictsSurviveReopeningWithWhichPolicyWasShownWhere() {
    Path f = tmp.resolve("ab.jsonl");
    Clock clock = Clock.fixed(Instant.parse("2026-11-27T10:00:00Z"), ZoneOffset.UTC);
    try (AbStore s = AbStore.open(f, clock)) {
      s.append(item("1", true), AbChoice.A, "ann");
      s.append(item("2", false), AbChoice.B, "bob");
    }
    try (AbStore s = AbStore.open(f)) {
      assertEquals(2, s.size());
      AbJudgement j = s.records().get(1);
      assertEquals(2, j.sequence());
      assertEquals(item("2", false), j.item());
      assertEquals("sft", j.item().policyA());
      assertEquals(AbChoice.B, j.choice());
      assertEquals("bob", j.labeller());
      assertEquals(Instant.parse("2026-11-27T10:00:00Z"), j.timestamp());
      assertTrue(s.judgement("1").isPresent() && s.judgement("3").isEmpty());
      assertThrows(IllegalArgumentException.class, () -> s.append(item("1", false), AbChoice.TIE, "ann"), "judged twice");
    }
  }

  /** PPO wins whichever side it is shown on; ties count half (WinRate's rule). */
  @Test
  void theWinRateFollowsThePolicyNotTheSide() {
    try (AbStore s = AbStore.open(tmp.resolve("ab.jsonl"))) {
      s.append(item("1", true), AbChoice.A, "ann");   // ppo wins (shown as A)
      s.append(item("2", false), AbChoice.B, "ann");  // ppo wins (shown as B)
      s.append(item("3", false), AbChoice.A, "ann");  // sft wins
      s.append(item("4", true), AbChoice.TIE, "ann"); // tie
      s.append(new AbItem("5", "p", "other", "x", "sft", "y"), AbChoice.A, "ann"); // another pair: not counted
      WinRate w = s.winRate("ppo", "sft");
      assertEquals(2, w.wins());
      assertEquals(1, w.losses());
      assertEquals(1, w.ties());
      assertEquals(WinRate.of("ppo", "sft", 2, 1, 1), w);
      assertEquals(0.625, w.rate(), 1e-12);
      WinRate back = s.winRate("sft", "ppo");
      assertEquals(1.0 - w.rate(), back.rate(), 1e-12);
      assertEquals(Double.NaN, s.winRate("ppo", "nobody").rate());
    }
  }

  @Test
  void aFailedAppendIsCutBackOutAndTheStoreCarriesOn() throws IOException {
    Path f = tmp.resolve("ab.jsonl");
    boolean[] fail = {false};
    DurableLog.Io io = new DurableLog.Io() {
      @Override
      public int write(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        if (fail[0]) {
          ByteBuffer part = buf.duplicate();
          part.limit(buf.position() + 7);
          int n = ch.write(part, position);
          buf.position(buf.position() + n);
          throw new IOException("No space left on device");
        }
        return ch.write(buf, position);
      }

      @Override
      public void force(FileChannel ch) throws IOException {
        ch.force(false);
      }
    };
    try (AbStore s = AbStore.open(f, Clock.systemUTC(), io)) {
      s.append(item("1", true), AbChoice.A, "ann");
      long good = Files.size(f);
      fail[0] = true;
      assertThrows(UncheckedIOException.class, () -> s.append(item("2", true), AbChoice.B, "ann"));
      assertEquals(good, Files.size(f));
      fail[0] = false;
      s.append(item("2", true), AbChoice.B, "ann");
    }
    try (AbStore s = AbStore.open(f)) {
      assertEquals(2, s.size());
    }
  }

  @Test
  void malformedLinesAreNamedTornTailsMovedAsideAndASecondOpenRefused() throws IOException {
    Path f = tmp.resolve("ab.jsonl");
    try (AbStore s = AbStore.open(f)) {
      s.append(item("1", true), AbChoice.A, "ann");
      RlhfException e = assertThrows(RlhfException.class, () -> AbStore.open(f));
      assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("locked"), e.getMessage());
    }
    Files.writeString(f, "{\"seq\":2,\"item\":\"2\",\"pro", StandardOpenOption.APPEND);
    try (AbStore s = AbStore.open(f)) {
      assertEquals(1, s.size());
    }
    assertTrue(Files.exists(tmp.resolve("ab.jsonl.torn-2")));
    String good = Files.readString(f);
    Files.writeString(f, good.replace("\"choice\":\"A\"", "\"choice\":\"C\""));
    DataFormatException e = assertThrows(DataFormatException.class, () -> AbStore.open(f));
    assertTrue(e.getMessage().contains("ab.jsonl:1") && e.getMessage().contains("choice"), e.getMessage());
    Files.writeString(f, good + good);
    e = assertThrows(DataFormatException.class, () -> AbStore.open(f));
    assertTrue(e.getMessage().contains("ab.jsonl:2") && e.getMessage().contains("already judged on line 1"), e.getMessage());
  }
}
