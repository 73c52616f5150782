package org.rlhf4j.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hostile or broken data files fail with errors naming the file and line, in bounded memory. */
class HostileDataFilesTest {
  @TempDir Path dir;

  /** An endless line: the reader must give up at the limit instead of materialising it. */
  private static InputStream endless(byte fill, String before) {
    byte[] head = before.getBytes(StandardCharsets.UTF_8);
    return new InputStream() {
      long pos;

      @Override
      public int read() {
        return pos < head.length ? head[(int) pos++] & 0xFF : fill;
      }

      @Override
      public int read(byte[] b, int off, int len) {
        for (int i = 0; i < len; i++) {
          b[off + i] = (byte) read();
        }
        return len;
      }
    };
  }

  @Test
  void anEndlessLineIsRefusedAtTheLimitNamingTheLine() {
    LineReader r = LineReader.of(endless((byte) 'a', "ok\n\r\nsecond\n"), "big.jsonl", 1000);
    DataFormatException e =
        assertThrows(
            DataFormatException.class,
            () -> {
              assertEquals("ok", r.readLine());
              assertEquals("", r.readLine());
              assertEquals("second", r.readLine());
              r.readLine();
            });
    assertTrue(e.getMessage().startsWith("big.jsonl:4: line is longer than the limit of 1000 characters"), e.getMessage());
    assertTrue(e.getMessage().contains(LineReader.MAX_LINE_CHARS_PROPERTY), e.getMessage());
  }

  @Test
  void linesEndLikeBufferedReaderAndTheLimitIsInclusive() throws IOException {
    byte[] text = "\uFEFFa\r\nbb\rccc\n\nxxxx".getBytes(StandardCharsets.UTF_8);
    LineReader r = LineReader.of(new ByteArrayInputStream(text), "t", 4);
    assertEquals(List.of("a", "bb", "ccc", "", "xxxx"), List.of(r.readLine(), r.readLine(), r.readLine(), r.readLine(), r.readLine()));
    assertNull(r.readLine());
    assertEquals(5, r.lineNumber());
  }

  @Test
  void longJsonLinesAndArrayRecordsAreRefusedWithTheirLine() throws IOException {
    Path jsonl = dir.resolve("train.jsonl");
    Files.writeString(jsonl, "{\"text\": \"short\"}\n{\"text\": \"" + "x".repeat(5000) + "\"}\n");
    DataFormatException e =
        assertThrows(DataFormatException.class, () -> JsonFiles.read(jsonl, r -> r, 1000));
    assertTrue(e.getMessage().startsWith("train.jsonl:2: line is longer than the limit of 1000"), e.getMessage());
    assertEquals(2, JsonFiles.read(jsonl, r -> r, 6000).size());

    Path array = dir.resolve("data.json");
    Files.writeString(array, "[{\"text\": \"short\"},\n {\"text\": \"" + "x".repeat(300_000) + "\"}]");
    DataFormatException a =
        assertThrows(DataFormatException.class, () -> JsonFiles.read(array, r -> r, 1000));
    assertTrue(a.getMessage().startsWith("data.json:2: record [1] is longer than the limit"), a.getMessage());
  }

  @Test
  void invalidUtf8NamesTheFileLineAndByteOffset() throws IOException {
    Path file = dir.resolve("sft.jsonl");
    byte[] good = "{\"text\": \"fine\"}\n{\"text\": \"bad ".getBytes(StandardCharsets.UTF_8);
    byte[] bytes = new byte[good.length + 4];
    System.arraycopy(good, 0, bytes, 0, good.length);
    bytes[good.length] = (byte) 0xC3; // a lead byte followed by a non-continuation byte
    bytes[good.length + 1] = '(';
    bytes[good.length + 2] = '"';
    bytes[good.length + 3] = '}';
    Files.write(file, bytes);
    DataFormatException e = assertThrows(DataFormatException.class, () -> SftDatasets.read(file));
    assertTrue(
        e.getMessage().startsWith("sft.jsonl:2: invalid UTF-8 at byte offset " + good.length), e.getMessage());

    Path array = dir.resolve("sft.json");
    byte[] arr = "[{\"text\": \"\u00ff\"}]".getBytes(StandardCharsets.ISO_8859_1);
    Files.write(array, arr);
    DataFormatException a = assertThrows(DataFormatException.class, () -> SftDatasets.read(array));
    assertTrue(a.getMessage().startsWith("sft.json:1:") && a.getMessage().contains("UTF-8"), a.getMessage());
  }

  @Test
  void anEmptyDataFileIsAnErrorNamingIt() throws IOException {
    for (String content : new String[] {"", "\n  \n\n", "\uFEFF"}) {
      Path file = dir.resolve("empty.jsonl");
      Files.writeString(file, content);
      DataFormatException e = assertThrows(DataFormatException.class, () -> SftDatasets.read(file));
      assertTrue(e.getMessage().startsWith("empty.jsonl:0: no records"), e.getMessage());
    }
    Path array = dir.resolve("empty.json");
    Files.writeString(array, " [ ] ");
    DataFormatException e = assertThrows(DataFormatException.class, () -> SftDatasets.read(array));
    assertTrue(e.getMessage().startsWith("empty.json:0: no records"), e.getMessage());
  }
}
