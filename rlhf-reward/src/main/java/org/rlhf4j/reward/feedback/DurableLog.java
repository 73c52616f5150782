package org.rlhf4j.reward.feedback;

import static com.google.common.base.Preconditions.checkNotNull;

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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.rlhf4j.core.RlhfException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable, append-only JSON Lines file behind {@link ComparisonStore} and {@link AbStore}.
 *
 * <ul>
 *   <li><b>One writer.</b> The file is guarded by an exclusive lock on a sidecar {@code <file>.lock},
 *       held until {@link #close}. A second opener, in this JVM or another process, is refused with
 *       an error naming the file. (The lock is on a sidecar because a POSIX lock on the data file
 *       itself is dropped as soon as any descriptor of that file is closed in the process, e.g. by a
 *       reader of the file; the data file is read through the locked channel anyway.)
 *   <li><b>Durable appends.</b> {@link #append} writes the line at the last good length and forces it
 *       to disk before it returns.
 *   <li><b>A failed append leaves nothing behind.</b> If writing or forcing fails (disk full, short
 *       write), the file is truncated back to the last good length before the error is thrown, so
 *       the file stays readable and later appends go on from there. If even that fails, the log
 *       refuses further appends until it is reopened (opening moves a partial line aside).
 *   <li><b>Torn tails are kept.</b> A partial last line (a crash mid-write) is moved to {@code
 *       <file>.torn-<line>} on open, reported, and cut from the file.
 * </ul>
 */
final class DurableLog implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DurableLog.class);

  /** The file operations an append uses; a seam for tests that inject short writes and failures. */
  interface Io {
    /** Writes some bytes of {@code buf} at {@code position}; returns how many, like {@link FileChannel#write(ByteBuffer, long)}. */
    int write(FileChannel channel, ByteBuffer buf, long position) throws IOException;

    /** Forces the file's content to disk. */
    void force(FileChannel channel) throws IOException;

    /** The real thing. */
    Io DIRECT = new Io() {
      @Override
      public int write(FileChannel channel, ByteBuffer buf, long position) throws IOException {
        return channel.write(buf, position);
      }

      @Override
      public void force(FileChannel channel) throws IOException {
        channel.force(false);
      }
    };
  }

  /** A complete line read on open: its 1-based number and text (without the newline). */
  record Line(long number, String text) {}

  /** A partial last line found on open and moved aside. */
  record Torn(long line, long bytes, Path movedTo) {}

  private final Path file;
  private final String what;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final FileChannel channel;
  private final Io io;
  private final List<Line> lines;
  private final Optional<Torn> torn;
  private long goodLength;
  private boolean broken;
  private boolean closed;

  private DurableLog(Path file, String what, FileChannel lockChannel, FileLock lock, FileChannel channel, Io io, List<Line> lines, Optional<Torn> torn, long goodLength) {
    this.file = file;
    this.what = what;
    this.lockChannel = lockChannel;
    this.lock = lock;
    this.channel = channel;
    this.io = io;
    this.lines = lines;
    this.torn = torn;
    this.goodLength = goodLength;
  }

  /** The sidecar lock file of {@code file}. */
  static Path lockFile(Path file) {
    return file.resolveSibling(file.getFileName() + ".lock");
  }

  /**
   * Opens (creating if needed) and locks {@code file}; {@code what} names it in messages (e.g.
   * "comparison store").
   *
   * @throws RlhfException if another process or another open store in this JVM holds it
   */
  static DurableLog open(Path file, String what, Io io) {
    checkNotNull(file, "file");
    checkNotNull(io, "io");
    FileChannel lockChannel = null;
    FileChannel ch = null;
    boolean ok = false;
    try {
      if (file.getParent() != null) {
        Files.createDirectories(file.getParent());
      }
      Path lockPath = lockFile(file);
      lockChannel = FileChannel.open(lockPath, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = lockChannel.tryLock();
      } catch (OverlappingFileLockException e) {
        throw new RlhfException(file + ": the " + what + " is already open and locked in this process (lock " + lockPath + "); close it first");
      }
      if (lock == null) {
        throw new RlhfException(file + ": the " + what + " is locked by another process (lock " + lockPath + "); stop that process or use another file");
      }
      ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
      byte[] bytes = readAll(ch, file);
      int lastNewline = -1;
      for (int i = bytes.length - 1; i >= 0; i--) {
        if (bytes[i] == '\n') {
          lastNewline = i;
          break;
        }
      }
      List<Line> lines = new ArrayList<>();
      String[] texts = new String(bytes, 0, lastNewline + 1, StandardCharsets.UTF_8).split("\n", -1);
      for (int i = 0; i < texts.length - 1; i++) { // the last element is what follows the final newline: ""
        lines.add(new Line(i + 1, texts[i]));
      }
      Optional<Torn> torn = Optional.empty();
      if (lastNewline + 1 < bytes.length) {
        // A partial line after the last newline: the write that made it was never acknowledged.
        byte[] fragment = Arrays.copyOfRange(bytes, lastNewline + 1, bytes.length);
        long lineNo = lines.size() + 1;
        Path aside = file.resolveSibling(file.getFileName() + ".torn-" + lineNo);
        Files.write(aside, fragment);
        ch.truncate(lastNewline + 1);
        ch.force(true);
        torn = Optional.of(new Torn(lineNo, fragment.length, aside));
        LOG.warn("{}: line {} was torn by an interrupted write ({} bytes); moved to {}", file, lineNo, fragment.length, aside);
      }
      DurableLog log = new DurableLog(file, what, lockChannel, lock, ch, io, lines, torn, lastNewline + 1);
      ok = true;
      return log;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open " + what + " " + file, e);
    } finally {
      if (!ok) {
        closeQuietly(ch);
        closeQuietly(lockChannel);
      }
    }
  }

  /** Reads the whole file through {@code ch} (never through a second descriptor). */
  private static byte[] readAll(FileChannel ch, Path file) throws IOException {
    long size = ch.size();
    if (size > Integer.MAX_VALUE - 8) {
      throw new IOException(file + " is " + size + " bytes, too large to load");
    }
    ByteBuffer buf = ByteBuffer.allocate((int) size);
    long pos = 0;
    while (buf.hasRemaining()) {
      int r = ch.read(buf, pos);
      if (r < 0) {
        break;
      }
      pos += r;
    }
    return Arrays.copyOf(buf.array(), buf.position());
  }

  private static void closeQuietly(FileChannel c) {
    if (c != null) {
      try {
        c.close();
      } catch (IOException e) {
        LOG.debug("closing {}: {}", c, e.toString());
      }
    }
  }

  /** The complete lines found on open. */
  List<Line> lines() {
    return lines;
  }

  /** The torn tail found on open, if any. */
  Optional<Torn> torn() {
    return torn;
  }

  /**
   * Appends {@code line} plus a newline and forces it to disk. On failure the file is cut back to
   * its last good length first.
   *
   * @throws UncheckedIOException if the line could not be made durable (nothing of it remains)
   * @throws IllegalStateException if the log is closed, or unusable after a failed repair
   */
  synchronized void append(String line) {
    if (closed) {
      throw new IllegalStateException("the " + what + " " + file + " is closed");
    }
    if (broken) {
      throw new IllegalStateException("the " + what + " " + file + " could not be repaired after a failed write; reopen it");
    }
    ByteBuffer buf = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
    long start = goodLength;
    try {
      long pos = start;
      while (buf.hasRemaining()) {
        int n = io.write(channel, buf, pos);
        if (n <= 0 && buf.hasRemaining()) {
          throw new IOException("no progress writing " + file + " at byte " + pos + " (" + buf.remaining() + " bytes left)");
        }
        pos += n;
      }
      io.force(channel);
      goodLength = pos;
    } catch (IOException e) {
      try {
        channel.truncate(start);
        channel.force(true);
        LOG.warn("{}: an append failed ({}); cut back to its last good length {}", file, e.toString(), start);
      } catch (IOException | RuntimeException repair) {
        broken = true;
        e.addSuppressed(repair);
        LOG.error("{}: an append failed and the file could not be cut back to {} bytes; refusing further appends", file, start, repair);
      }
      throw new UncheckedIOException("cannot append to " + what + " " + file + " (nothing of this record was kept)", e);
    }
  }

  /** The file. */
  Path file() {
    return file;
  }

  /** Releases the lock and closes the file; a second call does nothing. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      channel.close();
      lock.release();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot close " + what + " " + file, e);
    } finally {
      closeQuietly(lockChannel);
    }
  }
}
