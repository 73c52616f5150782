package org.rlhf4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A supervised run's checkpoint settings, as the trainers' builders collect them ({@code
 * checkpoints(dir, every)}, {@code resumeFrom(dir)}) and {@link SupervisedLoop#run} uses them:
 * where to write the run's state every so many steps, and which checkpoint to continue from. Immutable;
 * {@link #none()} is a fresh run without checkpoints.
 */
public final class Checkpointing {
  private static final Checkpointing NONE = new Checkpointing(null, 0, null);

  private final Path dir; // null: no periodic checkpoints
  private final int every;
  private final Path resumeFrom; // null: a fresh run

  private Checkpointing(Path dir, int every, Path resumeFrom) {
    this.dir = dir;
    this.every = every;
    this.resumeFrom = resumeFrom;
  }

  /** No periodic checkpoints, a fresh run. */
  public static Checkpointing none() {
    return NONE;
  }

  /**
   * These settings, also writing the run's state to {@code dir} every {@code every} steps (replacing
   * the previous one atomically).
   */
  public Checkpointing every(Path dir, int every) {
    checkNotNull(dir, "dir");
    checkArgument(every >= 1, "checkpoint interval must be >= 1, got %s", every);
    return new Checkpointing(dir, every, resumeFrom);
  }

  /** These settings, continuing the run checkpointed in {@code dir}. */
  public Checkpointing resumeFrom(Path dir) {
    checkNotNull(dir, "dir");
    return new Checkpointing(this.dir, every, dir);
  }

  /** Where the periodic checkpoints go, if any. */
  public Optional<Path> dir() {
    return Optional.ofNullable(dir);
  }

  /** The interval of the periodic checkpoints in steps (0 without them). */
  public int interval() {
    return every;
  }

  /** The checkpoint to continue from, if any. */
  public Optional<Path> resumeDir() {
    return Optional.ofNullable(resumeFrom);
  }

  @Override
  public String toString() {
    return "Checkpointing[dir=" + dir + ", every=" + every + ", resumeFrom=" + resumeFrom + "]";
  }
}
