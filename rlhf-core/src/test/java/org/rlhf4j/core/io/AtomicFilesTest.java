package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
  @TempDir Path dir;

  private List<String> listing(Path d) throws IOException {
    try (Stream<Path> s = Files.list(d)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void writesAndReplacesFiles() throws IOException {
    Path f = dir.resolve("a.txt");
    AtomicFiles.writeString(f, "first ✓");
    assertEquals("first ✓", Files.readString(f));
    AtomicFiles.write(
        f,
        out -> {
          out.write("second".getBytes(StandardCharsets.UTF_8));
          out.close(); // closing is allowed and only flushes
        });
    assertEquals("second", Files.readString(f));
    AtomicFiles.writeChannel(
        f,
        ch -> {
          ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
          ch.close();
        });
    assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(f));
    AtomicFiles.writeBytes(f, new byte[0]);
    assertEquals(0, Files.size(f));
    assertEquals(List.of("a.txt"), listing(dir));
  }

  @Test
  void writeLargerThanTheBufferIsComplete() throws IOException {
    Path f = dir.resolve("big.bin");
    byte[] data = new byte[300_000];
    for (int i = 0; i < data.length; i++) {
      data[i] = (byte) (i * 31);
    }
    AtomicFiles.write(
        f,
        out -> {
          for (int i = 0; i < data.length; i += 1000) {
            out.write(data, i, 1000);
          }
        });
    assertArrayEquals(data, Files.readAllBytes(f));
  }

  @Test
  void failingWriterLeavesThePreviousContentAndNoTempFile() throws IOException {
    Path f = dir.resolve("model.bin");
    AtomicFiles.writeString(f, "old content");
    IOException io = new IOException("disk on fire");
    IOException thrown =
        assertThrows(
            IOException.class,
            () ->
                AtomicFiles.write(
                    f,
                    out -> {
                      out.write(
                          new byte
                              [200_000]); // more than the buffer: some of it reached the temporary
                      // file
                      throw io;
                    }));
    assertSame(io, thrown);
    assertEquals("old content", Files.readString(f));
    assertEquals(List.of("model.bin"), listing(dir));

    RuntimeException boom = new IllegalStateException("boom");
    assertSame(
        boom,
        assertThrows(
            IllegalStateException.class,
            () ->
                AtomicFiles.writeChannel(
                    f,
                    ch -> {
                      ch.write(ByteBuffer.wrap(new byte[10]));
                      throw boom;
                    })));
    assertEquals("old content", Files.readString(f));
    assertEquals(List.of("model.bin"), listing(dir));
  }

  @Test
  void failingWriterCreatesNothing() throws IOException {
    Path f = dir.resolve("new.bin");
    assertThrows(
        UncheckedIOException.class,
        () ->
            AtomicFiles.write(
                f,
                out -> {
                  out.write(1);
                  throw new UncheckedIOException(new IOException("nope"));
                }));
    assertEquals(List.of(), listing(dir));
    assertThrows(
        NoSuchFileException.class,
        () -> AtomicFiles.writeString(dir.resolve("missing/x.txt"), "x"));
  }

  @Test
  void publishesANewDirectory() throws IOException {
    Path ckpt = dir.resolve("ckpt");
    AtomicFiles.publishDirectory(
        ckpt,
        staging -> {
          assertTrue(staging.getFileName().toString().startsWith("ckpt.tmp-"), staging.toString());
          Files.writeString(staging.resolve("model.safetensors"), "weights");
          Files.createDirectories(staging.resolve("sub"));
          Files.writeString(staging.resolve("sub/config.json"), "{}");
        });
    assertEquals("weights", Files.readString(ckpt.resolve("model.safetensors")));
    assertEquals("{}", Files.readString(ckpt.resolve("sub/config.json")));
    assertEquals(List.of("ckpt"), listing(dir));
  }

  @Test
  void replacesAnExistingDirectoryAndRemovesTheOldOne() throws IOException {
    Path ckpt = dir.resolve("ckpt");
    AtomicFiles.publishDirectory(
        ckpt,
        staging -> {
          Files.writeString(staging.resolve("old-only.txt"), "1");
          Files.writeString(staging.resolve("shared.txt"), "v1");
        });
    AtomicFiles.publishDirectory(
        ckpt, staging -> Files.writeString(staging.resolve("shared.txt"), "v2"));
    assertEquals(List.of("shared.txt"), listing(ckpt));
    assertEquals("v2", Files.readString(ckpt.resolve("shared.txt")));
    assertEquals(List.of("ckpt"), listing(dir));
  }

  @Test
  void failingDirectoryWriterLeavesTheOldDirectory() throws IOException {
    Path ckpt = dir.resolve("ckpt");
    AtomicFiles.publishDirectory(
        ckpt, staging -> Files.writeString(staging.resolve("a.txt"), "v1"));
    IOException thrown =
        assertThrows(
            IOException.class,
            () ->
                AtomicFiles.publishDirectory(
                    ckpt,
                    staging -> {
                      Files.writeString(staging.resolve("a.txt"), "v2");
                      Files.createDirectories(staging.resolve("deep/er"));
                      Files.writeString(staging.resolve("deep/er/b.txt"), "partial");
                      throw new IOException("out of space");
                    }));
    assertEquals("out of space", thrown.getMessage());
    assertEquals("v1", Files.readString(ckpt.resolve("a.txt")));
    assertEquals(List.of("a.txt"), listing(ckpt));
    assertEquals(List.of("ckpt"), listing(dir));
    assertThrows(
        IOException.class,
        () ->
            AtomicFiles.publishDirectory(
                dir.resolve("fresh"),
                staging -> {
                  throw new IOException("fails at once");
                }));
    assertFalse(Files.exists(dir.resolve("fresh")));
    assertEquals(List.of("ckpt"), listing(dir));
  }

  /** kill -9 during saves leaves staging folders; the next save of the directory removes them. */
  @Test
  void stagingLeftByKilledSavesIsCleanedOnTheNextSave() throws Exception {
    Path ckpt = dir.resolve("ckpt");
    AtomicFiles.publishDirectory(ckpt, staging -> Files.writeString(staging.resolve("a.txt"), "v1"));
    for (int round = 0; round < 2; round++) {
      String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      Process p =
          new ProcessBuilder(javaBin, "-cp", System.getProperty("java.class.path"), CrashingPublisherMain.class.getName(), ckpt.toString())
              .redirectError(ProcessBuilder.Redirect.DISCARD)
              .start();
      String suffix;
      try (java.io.BufferedReader out =
          new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String line = out.readLine();
        assertTrue(line != null && line.startsWith("STAGING "), String.valueOf(line));
        Path childStaging = Path.of(line.substring(8));
        suffix = childStaging.getFileName().toString().substring("ckpt.tmp-".length());
        // The child holds its lock: a save now (in this JVM) must leave its staging alone.
        AtomicFiles.publishDirectory(ckpt, staging -> Files.writeString(staging.resolve("a.txt"), "mine"));
        assertTrue(Files.isDirectory(childStaging), "a live save's staging was deleted: " + listing(dir));
        p.destroyForcibly(); // SIGKILL in the middle of the child's save
      }
      assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "child JVM did not die");
      // What the kill left (the previous round's leftovers were cleaned by the child's own save).
      assertEquals(List.of("ckpt", "ckpt.lock-" + suffix, "ckpt.tmp-" + suffix), listing(dir));
    }
    AtomicFiles.publishDirectory(ckpt, staging -> Files.writeString(staging.resolve("a.txt"), "v2"));
    assertEquals(List.of("ckpt"), listing(dir));
    assertEquals("v2", Files.readString(ckpt.resolve("a.txt")));
  }

  /** A save in progress in another thread keeps its staging while another save cleans. */
  @Test
  void aConcurrentSaveIsNotCleanedAway() throws Exception {
    Path ckpt = dir.resolve("ckpt");
    java.util.concurrent.CountDownLatch inWriter = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    Thread t =
        new Thread(
            () -> {
              try {
                AtomicFiles.publishDirectory(
                    ckpt,
                    staging -> {
                      Files.writeString(staging.resolve("a.txt"), "slow");
                      inWriter.countDown();
                      try {
                        release.await();
                      } catch (InterruptedException e) {
                        throw new IOException(e);
                      }
                    });
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
            });
    t.start();
    assertTrue(inWriter.await(30, java.util.concurrent.TimeUnit.SECONDS));
    AtomicFiles.publishDirectory(ckpt, staging -> Files.writeString(staging.resolve("a.txt"), "fast"));
    assertEquals(0, AtomicFiles.cleanStaleStaging(ckpt));
    release.countDown();
    t.join(30_000);
    assertFalse(t.isAlive());
    assertEquals("slow", Files.readString(ckpt.resolve("a.txt")));
    assertEquals(List.of("ckpt"), listing(dir));
  }

  /** A crash between the two renames leaves only TARGET.old-R: it is renamed back. */
  @Test
  void aCrashBetweenTheRenamesIsRestored() throws IOException {
    Path old = Files.createDirectories(dir.resolve("ckpt.old-k3j2"));
    Files.writeString(old.resolve("a.txt"), "previous");
    Path staging = Files.createDirectories(dir.resolve("ckpt.tmp-k3j2"));
    Files.writeString(staging.resolve("a.txt"), "unacknowledged");
    Files.createFile(dir.resolve("ckpt.lock-k3j2"));
    Files.createDirectories(dir.resolve("ckpt.tmp-not-ours")); // not our pattern: kept
    Files.createDirectories(dir.resolve("other.tmp-abc")); // another target's: kept
    assertEquals(3, AtomicFiles.cleanStaleStaging(dir.resolve("ckpt")));
    assertEquals("previous", Files.readString(dir.resolve("ckpt/a.txt")));
    assertEquals(List.of("ckpt", "ckpt.tmp-not-ours", "other.tmp-abc"), listing(dir));
  }
}
