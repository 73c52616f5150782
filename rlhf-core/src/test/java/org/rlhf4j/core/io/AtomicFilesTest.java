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
}
