package org.rlhf4j.core.fs;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes files and directories so that readers, and the disk after a crash, see either the old
 * content or the complete new content, never a partial write.
 *
 * <p>A file is written to a temporary file in the same directory ({@code .NAME.RANDOM.tmp}), forced
 * to disk, then renamed over the target with {@link StandardCopyOption#ATOMIC_MOVE}; the directory
 * is then synced where the platform allows it. If anything fails, including the caller's writer,
 * the temporary file is deleted and the target is left as it was.
 *
 * <p>A directory (a multi-file checkpoint) is published by {@link #publishDirectory}; see there for
 * its guarantees.
 */
public class AtomicFiles {
  private static final Logger log = LoggerFactory.getLogger(AtomicFiles.class);
  private static final int BUFFER_SIZE = 1 << 16;

  /** Static methods only; {@code protected} for the deprecated alias of the same name in the {@code io} package. */
  protected AtomicFiles() {}

  /**
   * Atomically replaces {@code target} with what {@code writer} writes to the given stream. The
   * stream is buffered; the writer need not close it (closing it only flushes).
   *
   * @param target the file to create or replace; its parent directory must exist
   * @param writer writes the content
   * @throws IOException if writing, syncing or renaming fails (the target is then unchanged), or
   *     whatever the writer throws
   */
  public static void write(Path target, IoConsumer<? super OutputStream> writer)
      throws IOException {
    checkNotNull(writer, "writer");
    writeChannel(
        target,
        channel -> {
          OutputStream out =
              new BufferedOutputStream(
                  new NonClosingOutputStream(Channels.newOutputStream(channel)), BUFFER_SIZE);
          writer.accept(out);
          out.flush();
        });
  }

  /**
   * Atomically replaces {@code target} with what {@code writer} writes to the given channel. The
   * channel is unbuffered (write large buffers); closing it is ignored.
   *
   * @param target the file to create or replace; its parent directory must exist
   * @param writer writes the content
   * @throws IOException if writing, syncing or renaming fails (the target is then unchanged), or
   *     whatever the writer throws
   */
  public static void writeChannel(Path target, IoConsumer<? super WritableByteChannel> writer)
      throws IOException {
    checkNotNull(target, "target");
    checkNotNull(writer, "writer");
    Path absolute = target.toAbsolutePath();
    Path dir = absolute.getParent();
    checkArgument(
        dir != null && absolute.getFileName() != null, "target %s has no parent directory", target);
    Path tmp = createSibling(dir, "." + absolute.getFileName() + ".", ".tmp", false);
    boolean done = false;
    try {
      try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        writer.accept(new NonClosingChannel(channel));
        channel.force(true);
      }
      Files.move(
          tmp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      done = true;
    } finally {
      if (!done) {
        deleteQuietly(tmp);
      }
    }
    syncDirectory(dir);
  }

  /**
   * Atomically replaces {@code target} with {@code bytes}.
   *
   * @param target the file to create or replace
   * @param bytes the content
   * @throws IOException if writing fails (the target is then unchanged)
   */
  public static void writeBytes(Path target, byte[] bytes) throws IOException {
    checkNotNull(bytes, "bytes");
    writeChannel(
        target,
        channel -> {
          ByteBuffer b = ByteBuffer.wrap(bytes);
          while (b.hasRemaining()) {
            channel.write(b);
          }
        });
  }

  /**
   * Atomically replaces {@code target} with {@code text} encoded as UTF-8.
   *
   * @param target the file to create or replace
   * @param text the content
   * @throws IOException if writing fails (the target is then unchanged)
   */
  public static void writeString(Path target, String text) throws IOException {
    checkNotNull(text, "text");
    writeBytes(target, text.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * Publishes a directory (e.g. a multi-file checkpoint) as a whole.
   *
   * <ol>
   *   <li>A lock file {@code TARGET.lock-R} ({@code R} random) is created beside {@code target} and
   *       locked for the whole save; stale staging folders of earlier, crashed saves of the same
   *       target are cleaned (see {@link #cleanStaleStaging}).
   *   <li>A staging directory {@code TARGET.tmp-R} is created beside {@code target} and handed to
   *       {@code writer}, which fills it.
   *   <li>Every regular file in it, and the staging directory itself, is forced to disk.
   *   <li>If {@code target} exists it is renamed aside to {@code TARGET.old-R}; the staging
   *       directory is renamed to {@code target}; only then is the old directory deleted, and
   *       last the lock file.
   * </ol>
   *
   * <p>If the writer or a sync fails, the staging directory is deleted and {@code target} is
   * untouched. If the final rename fails, the old directory is renamed back. A crash between the
   * two renames (a window of two system calls) leaves no {@code target} but a complete {@code
   * TARGET.old-R}; the next save or {@link #cleanStaleStaging} renames it back. A crash elsewhere
   * leaves either the old or the new {@code target}, possibly with stale {@code .tmp-R}/{@code
   * .old-R}/{@code .lock-R} siblings, which the next save of the same target deletes. (A failure to
   * delete the old directory after the new one is in place is only logged.)
   *
   * @param target the directory to create or replace; its parent must exist
   * @param writer fills the staging directory it is given
   * @throws IOException if writing, syncing or renaming fails, or whatever the writer throws
   */
  public static void publishDirectory(Path target, IoConsumer<? super Path> writer)
      throws IOException {
    checkNotNull(target, "target");
    checkNotNull(writer, "writer");
    Path absolute = target.toAbsolutePath();
    Path parent = absolute.getParent();
    checkArgument(
        parent != null && absolute.getFileName() != null,
        "target %s has no parent directory",
        target);
    String name = absolute.getFileName().toString();
    Files.createDirectories(parent);
    String suffix;
    FileChannel lockChannel;
    for (int attempt = 0; ; attempt++) {
      suffix = randomSuffix();
      try {
        lockChannel =
            FileChannel.open(
                parent.resolve(name + LOCK + suffix),
                StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE);
        break;
      } catch (FileAlreadyExistsException e) {
        if (attempt >= 10) {
          throw e;
        }
      }
    }
    Path lockFile = parent.resolve(name + LOCK + suffix);
    HELD_LOCKS.add(lockFile);
    try {
      lockChannel.lock();
      cleanStaleStaging(absolute);
      publishLocked(absolute, parent, name, suffix, writer);
    } finally {
      // Delete while still holding the lock, so a cleaner never sees our file unlocked.
      deleteQuietly(lockFile);
      lockChannel.close();
      HELD_LOCKS.remove(lockFile);
    }
  }

  /**
   * The lock files of this JVM's saves in progress. A cleaner must not even open them: closing any
   * descriptor of a file drops the process's POSIX locks on it.
   */
  private static final Set<Path> HELD_LOCKS = ConcurrentHashMap.newKeySet();

  private static final String STAGING = ".tmp-";
  private static final String OLD = ".old-";
  private static final String LOCK = ".lock-";

  private static void publishLocked(
      Path absolute, Path parent, String name, String suffix, IoConsumer<? super Path> writer)
      throws IOException {
    Path staging = Files.createDirectory(parent.resolve(name + STAGING + suffix));
    boolean published = false;
    try {
      writer.accept(staging);
      syncTree(staging);
      if (Files.exists(absolute)) {
        Path old = parent.resolve(name + OLD + suffix);
        Files.move(absolute, old, StandardCopyOption.ATOMIC_MOVE);
        try {
          Files.move(staging, absolute, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
          try {
            Files.move(old, absolute, StandardCopyOption.ATOMIC_MOVE);
          } catch (IOException restore) {
            e.addSuppressed(restore);
            log.error("could not restore {} from {}; the previous version is there", absolute, old);
          }
          throw e;
        }
        published = true;
        syncDirectory(parent);
        try {
          deleteRecursively(old);
        } catch (IOException e) {
          // The new version is in place; a leftover old copy is only clutter.
          log.warn(
              "published {} but could not delete the previous version {}: {}",
              absolute,
              old,
              e.toString());
        }
      } else {
        Files.move(staging, absolute, StandardCopyOption.ATOMIC_MOVE);
        published = true;
        syncDirectory(parent);
      }
    } finally {
      if (!published) {
        try {
          deleteRecursively(staging);
        } catch (IOException e) {
          log.warn("could not delete staging directory {}: {}", staging, e.toString());
        }
      }
    }
  }

  /**
   * Before reading {@code dir}: if it is missing because a save crashed between its two renames, puts
   * the previous version back (see {@link #cleanStaleStaging}); a failure to look is logged, not thrown,
   * so that the caller reports the missing directory itself.
   */
  public static void recoverInterruptedSave(Path dir) {
    if (Files.exists(dir)) {
      return;
    }
    try {
      cleanStaleStaging(dir);
    } catch (IOException e) {
      LoggerFactory.getLogger(AtomicFiles.class).warn("cannot check {} for an interrupted save: {}", dir, e.toString());
    }
  }

  /**
   * Cleans what crashed {@link #publishDirectory} saves of {@code target} left beside it: every
   * {@code TARGET.tmp-R}, {@code TARGET.old-R} and {@code TARGET.lock-R} whose save is certainly
   * over, i.e. whose lock file is gone (a save by an older version, or one that finished) or can be
   * locked (its process died: the operating system released its lock). A save in progress, in this
   * or another process on this machine, holds its lock and is left alone. If {@code target} is
   * missing (a crash between the two renames) and a stale {@code TARGET.old-R} is there, that
   * previous version is renamed back to {@code target} instead of being deleted.
   *
   * <p>Called by every {@link #publishDirectory}; loaders call it too so that a directory whose
   * save crashed at the worst moment is restored. Failures to delete are logged, not thrown.
   *
   * @param target the directory whose siblings are checked
   * @return the number of stale entries removed or restored
   * @throws IOException if the parent directory cannot be listed
   */
  public static int cleanStaleStaging(Path target) throws IOException {
    checkNotNull(target, "target");
    Path absolute = target.toAbsolutePath();
    Path parent = absolute.getParent();
    if (parent == null || absolute.getFileName() == null || !Files.isDirectory(parent)) {
      return 0;
    }
    String name = absolute.getFileName().toString();
    TreeSet<String> suffixes = new TreeSet<>();
    try (Stream<Path> s = Files.list(parent)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        String f = p.getFileName().toString();
        for (String kind : new String[] {STAGING, OLD, LOCK}) {
          if (f.startsWith(name + kind) && isSuffix(f.substring(name.length() + kind.length()))) {
            suffixes.add(f.substring(name.length() + kind.length()));
          }
        }
      }
    }
    int cleaned = 0;
    for (String suffix : suffixes) {
      Path lockFile = parent.resolve(name + LOCK + suffix);
      if (HELD_LOCKS.contains(lockFile)) {
        continue; // a save in progress in this JVM
      }
      FileChannel ch = null;
      try {
        if (Files.exists(lockFile, LinkOption.NOFOLLOW_LINKS)) {
          try {
            ch = FileChannel.open(lockFile, StandardOpenOption.WRITE);
          } catch (NoSuchFileException gone) {
            ch = null; // its save just finished
          }
          if (ch != null) {
            FileLock held;
            try {
              held = ch.tryLock();
            } catch (OverlappingFileLockException inThisJvm) {
              held = null;
            }
            if (held == null) {
              continue; // a save in progress
            }
          }
        }
        Path old = parent.resolve(name + OLD + suffix);
        Path staging = parent.resolve(name + STAGING + suffix);
        if (Files.isDirectory(old, LinkOption.NOFOLLOW_LINKS)
            && !Files.exists(absolute, LinkOption.NOFOLLOW_LINKS)) {
          Files.move(old, absolute, StandardCopyOption.ATOMIC_MOVE);
          syncDirectory(parent);
          log.warn("restored {} from {}, left by a save that crashed", absolute, old);
          cleaned++;
        }
        for (Path p : new Path[] {staging, old}) {
          if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            try {
              deleteRecursively(p);
              cleaned++;
              log.info("deleted {}, left by a save that crashed", p);
            } catch (IOException e) {
              log.warn("could not delete stale {}: {}", p, e.toString());
            }
          }
        }
        if (ch != null) {
          deleteQuietly(lockFile);
          cleaned++;
        }
      } finally {
        if (ch != null) {
          ch.close();
        }
      }
    }
    return cleaned;
  }

  private static boolean isSuffix(String s) {
    if (s.isEmpty() || s.length() > 13) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z')) {
        return false;
      }
    }
    return true;
  }

  /**
   * Creates an empty file or directory {@code dir/PREFIX RANDOM SUFFIX} with default permissions
   * (unlike {@link Files#createTempFile}, which makes it owner-only).
   */
  private static Path createSibling(Path dir, String prefix, String suffix, boolean directory)
      throws IOException {
    for (int attempt = 0; ; attempt++) {
      Path p = dir.resolve(prefix + randomSuffix() + suffix);
      try {
        return directory ? Files.createDirectory(p) : Files.createFile(p);
      } catch (FileAlreadyExistsException e) {
        if (attempt >= 10) {
          throw e;
        }
      }
    }
  }

  private static String randomSuffix() {
    return Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36);
  }

  /** Forces every regular file under {@code dir}, then the directories, to disk. */
  private static void syncTree(Path dir) throws IOException {
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) paths::iterator) {
        if (Files.isRegularFile(p)) {
          try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.force(true);
          }
        } else if (Files.isDirectory(p)) {
          syncDirectory(p);
        }
      }
    }
  }

  /**
   * Forces a directory's entries to disk so a rename survives a crash. Not every platform can open
   * a directory (Windows cannot); there the rename's own durability is relied on.
   */
  private static void syncDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      log.debug("cannot sync directory {}: {}", dir, e.toString());
    }
  }

  private static void deleteQuietly(Path file) {
    try {
      Files.deleteIfExists(file);
    } catch (IOException e) {
      log.warn("could not delete temporary file {}: {}", file, e.toString());
    }
  }

  /** Deletes {@code root} and everything under it, without following symbolic links. */
  static void deleteRecursively(Path root) throws IOException {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Files.walkFileTree(
        root,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
              throws IOException {
            Files.delete(file);
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
            if (e != null) {
              throw e;
            }
            Files.delete(dir);
            return FileVisitResult.CONTINUE;
          }
        });
  }

  /** Lets the caller's writer close its stream without closing the file before it is forced. */
  private static final class NonClosingOutputStream extends FilterOutputStream {
    NonClosingOutputStream(OutputStream out) {
      super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
    }

    @Override
    public void close() throws IOException {
      flush();
    }
  }

  /** A view of the file's channel whose {@code close} does nothing. */
  private static final class NonClosingChannel implements WritableByteChannel {
    private final FileChannel channel;

    NonClosingChannel(FileChannel channel) {
      this.channel = channel;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
      return channel.write(src);
    }

    @Override
    public boolean isOpen() {
      return channel.isOpen();
    }

    @Override
    public void close() {}
  }
}
