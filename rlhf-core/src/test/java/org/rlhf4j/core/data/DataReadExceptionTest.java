package org.rlhf4j.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.RlhfException;

/**
 * The readers' I/O failures are an unchecked {@link DataReadException} naming the file, like the
 * rest of rlhf4j's errors (the readers declare no checked exception, so these calls compile without
 * a {@code throws} clause).
 */
class DataReadExceptionTest {
  @TempDir Path dir;

  private static DataReadException assertReadFails(Path named, Executable read) {
    DataReadException e = assertThrows(DataReadException.class, read);
    assertEquals(named.toString(), e.source());
    assertTrue(e.getMessage().startsWith("cannot read " + named + ": "), e.getMessage());
    assertInstanceOf(RlhfException.class, e);
    return e;
  }

  @Test
  void aMissingFileNamesItsPathForEveryReader() {
    Path missing = dir.resolve("no-such.jsonl");
    DataReadException e = assertReadFails(missing, () -> SftDatasets.read(missing));
    assertInstanceOf(NoSuchFileException.class, e.getCause());
    assertEquals("cannot read " + missing + ": no such file", e.getMessage());
    assertReadFails(missing, () -> SelfInstruct.read(missing, ChatFormat.plain()));
    assertReadFails(missing, () -> JsonFiles.read(missing, r -> r));
    assertReadFails(missing, () -> JsonFiles.readLines(missing, r -> r));
  }

  @Test
  void aDirectoryIsNotReadable() {
    DataReadException e = assertReadFails(dir, () -> SftDatasets.read(dir));
    assertInstanceOf(IOException.class, e.getCause());
  }

  @Test
  void aFailingStreamNamesItsSource() {
    Reader failing =
        new Reader() {
          @Override
          public int read(char[] buf, int off, int len) throws IOException {
            throw new IOException("disk on fire");
          }

          @Override
          public void close() {}
        };
    DataReadException e =
        assertThrows(
            DataReadException.class,
            () ->
                SftDatasets.read(
                    new BufferedReader(failing),
                    "stream.jsonl",
                    SftDatasets.Format.AUTO,
                    ChatFormat.plain()));
    assertEquals("stream.jsonl", e.source());
    assertEquals("cannot read stream.jsonl: IOException (disk on fire)", e.getMessage());
  }
}
