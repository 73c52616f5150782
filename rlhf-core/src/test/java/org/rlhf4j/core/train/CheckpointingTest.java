package org.rlhf4j.core.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The checkpoint settings the supervised trainers' builders share: validation in one place, immutable. */
class CheckpointingTest {
  @Test
  void noneIsAFreshRunWithoutCheckpoints() {
    Checkpointing c = Checkpointing.none();
    assertEquals(Optional.empty(), c.dir());
    assertEquals(0, c.interval());
    assertEquals(Optional.empty(), c.resumeDir());
  }

  @Test
  void settingsCombineAndLeaveTheOriginalUnchanged() {
    Checkpointing base = Checkpointing.none();
    Checkpointing c = base.every(Path.of("ckpt"), 4).resumeFrom(Path.of("old"));
    assertEquals(Optional.of(Path.of("ckpt")), c.dir());
    assertEquals(4, c.interval());
    assertEquals(Optional.of(Path.of("old")), c.resumeDir());
    assertEquals(Optional.of(Path.of("ckpt")), c.resumeFrom(Path.of("newer")).dir(), "resumeFrom keeps the periodic checkpoints");
    assertEquals(Optional.empty(), base.dir());
    assertEquals(Optional.empty(), base.resumeDir());
  }

  @Test
  void badSettingsAreRefusedNamingTheValue() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Checkpointing.none().every(Path.of("x"), 0));
    assertTrue(e.getMessage().contains("checkpoint interval must be >= 1, got 0"), e.getMessage());
    assertThrows(NullPointerException.class, () -> Checkpointing.none().every(null, 2));
    assertThrows(NullPointerException.class, () -> Checkpointing.none().resumeFrom(null));
  }
}
