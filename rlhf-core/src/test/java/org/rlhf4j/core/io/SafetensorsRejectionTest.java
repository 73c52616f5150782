package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.rlhf4j.core.io.SafetensorsTestFiles.assertRejected;
import static org.rlhf4j.core.io.SafetensorsTestFiles.concat;
import static org.rlhf4j.core.io.SafetensorsTestFiles.f32;
import static org.rlhf4j.core.io.SafetensorsTestFiles.le64;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Malformed files: each is rejected with a SafetensorsException naming the file and the problem.
 */
class SafetensorsRejectionTest {
  @TempDir Path dir;
  private int count;

  /** Writes a file with {@code header} (unpadded) and {@code data}. */
  private Path file(String header, byte[] data) throws IOException {
    return raw(SafetensorsTestFiles.file(header, data));
  }

  private Path raw(byte[] bytes) throws IOException {
    return SafetensorsTestFiles.write(dir, "bad-" + (count++) + ".safetensors", bytes);
  }

  private static String entry(String dtype, String shape, long begin, long end) {
    return "{\"dtype\":\""
        + dtype
        + "\",\"shape\":"
        + shape
        + ",\"data_offsets\":["
        + begin
        + ","
        + end
        + "]}";
  }

  @Test
  void rejectsEveryTruncationOfAValidFile() throws IOException {
    Path valid = dir.resolve("valid.safetensors");
    SafetensorsWriter.write(
        valid,
        Map.of(
            "w",
            Nd4j.createFromArray(new float[][] {{1, 2}, {3, 4}}),
            "b",
            Nd4j.createFromArray(5.0, 6.0)),
        Map.of("k", "v"));
    byte[] bytes = Files.readAllBytes(valid);
    for (int cut = 0; cut < bytes.length; cut++) {
      Path f = raw(Arrays.copyOf(bytes, cut));
      SafetensorsException e = assertRejected(f);
      if (cut < 8) {
        assertTrue(
            e.getMessage().contains("too short for the 8-byte header length"), e.getMessage());
      }
    }
    try (SafetensorsReader r = SafetensorsReader.open(valid)) {
      assertEquals(2, r.names().size());
    }
  }

  @Test
  void rejectsAbsurdHeaderLengths() throws IOException {
    byte[] body = "{}      ".getBytes(StandardCharsets.US_ASCII);
    assertRejected(
        raw(concat(le64(1L << 62), body)),
        "header length 4611686018427387904 is out of range",
        "at most 8");
    assertRejected(
        raw(concat(le64(-1), body)), "header length 18446744073709551615 is out of range");
    assertRejected(raw(concat(le64(9), body)), "header length 9 is out of range");
    assertRejected(
        raw(concat(le64(1), body)), "header length 1 is out of range: must be at least 2");
    assertRejected(raw(concat(le64(0), body)), "header length 0 is out of range");
    // Larger than the 100 MiB limit even though the (sparse) file is larger still.
    Path sparse = raw(le64((100L << 20) + 1));
    try (var ch =
        java.nio.channels.FileChannel.open(sparse, java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.wrap(new byte[] {'}'}), (100L << 20) + 200);
    }
    assertRejected(sparse, "header length 104857601 is out of range", "header limit 104857600");
  }

  @Test
  void rejectsHeadersThatAreNotAJsonObject() throws IOException {
    assertRejected(file("[1, 2]", new byte[0]), "header must be a JSON object, got [1,2]");
    assertRejected(file("42", new byte[0]), "header must be a JSON object, got 42");
    assertRejected(file("\"x\"", new byte[0]), "header must be a JSON object");
    assertRejected(file("  ", new byte[0]), "header must be a JSON object, got nothing");
    assertRejected(file("{\"a\":", new byte[0]), "header is not valid JSON");
    assertRejected(file("{} {}", new byte[0]), "header is not valid JSON");
    assertRejected(file("{/*c*/}", new byte[0]), "header is not valid JSON");
    assertRejected(file("{'a':1}", new byte[0]), "header is not valid JSON");
    assertRejected(
        raw(concat(le64(4), new byte[] {'{', (byte) 0xC3, '}', ' '})),
        "header is not valid UTF-8 at file offset 9");
    assertRejected(
        file("[".repeat(100) + "]".repeat(100), new byte[0]), "header is not valid JSON");
  }

  @Test
  void rejectsDuplicateNamesAndFields() throws IOException {
    String e = entry("F32", "[1]", 0, 4);
    assertRejected(
        file("{\"a\":" + e + ",\"a\":" + e + "}", f32(1, 2)),
        "header is not valid JSON",
        "Duplicate field 'a'");
    assertRejected(
        file(
            "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
            f32(1)),
        "Duplicate field 'dtype'");
    assertRejected(
        file("{\"__metadata__\":{},\"__metadata__\":{},\"a\":" + e + "}", f32(1)),
        "Duplicate field '__metadata__'");
  }

  @Test
  void rejectsBadEntries() throws IOException {
    byte[] four = f32(1);
    assertRejected(
        file("{\"a\":" + entry("Q4", "[1]", 0, 4) + "}", four),
        "tensor \"a\": unsupported dtype \"Q4\"");
    assertRejected(
        file("{\"a\":" + entry("f32", "[1]", 0, 4) + "}", four), "unsupported dtype \"f32\"");
    assertRejected(
        file("{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", four),
        "field \"dtype\" must be a string, got 32");
    assertRejected(file("{\"a\":[1]}", four), "tensor \"a\": entry must be an object, got [1]");
    assertRejected(
        file("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", four),
        "tensor \"a\": missing field \"dtype\"");
    assertRejected(
        file("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", four),
        "missing field \"shape\"");
    assertRejected(
        file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", four), "missing field \"data_offsets\"");
    assertRejected(
        file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", four),
        "tensor \"a\": unexpected field \"extra\"");
    assertRejected(
        file("{\"a\":" + entry("F32", "[-1]", 0, 4) + "}", four),
        "field \"shape\" element 0 must be a non-negative integer",
        "got -1");
    assertRejected(
        file("{\"a\":" + entry("F32", "[2.5]", 0, 4) + "}", four),
        "element 0 must be a non-negative integer",
        "got 2.5");
    assertRejected(
        file("{\"a\":" + entry("F32", "[1,\"2\"]", 0, 4) + "}", four),
        "element 1 must be",
        "got \"2\"");
    assertRejected(
        file("{\"a\":" + entry("F32", "[99999999999999999999]", 0, 4) + "}", four), "below 2^63");
    assertRejected(
        file("{\"a\":" + entry("F32", "3", 0, 4) + "}", four),
        "field \"shape\" must be an array of integers, got 3");
    assertRejected(
        file("{\"a\":" + entry("F32", "[4611686018427387904,4]", 0, 4) + "}", four),
        "tensor \"a\": shape [4611686018427387904,4] has too many elements");
    assertRejected(
        file("{\"a\":" + entry("F64", "[1152921504606846976]", 0, 4) + "}", four),
        "has too many elements");
    assertRejected(
        file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", four),
        "field \"data_offsets\" must be an array of 2 integers, got [0,4,8]");
    assertRejected(
        file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", four),
        "field \"data_offsets\" element 0 must be a non-negative integer");
  }

  @Test
  void rejectsBadRanges() throws IOException {
    byte[] eight = f32(1, 2);
    assertRejected(
        file(
            "{\"a\":" + entry("F32", "[1]", 4, 8) + ",\"b\":" + entry("F32", "[2]", 0, 8) + "}",
            eight),
        "tensor \"a\": data_offsets [4, 8] overlap tensor \"b\" at [0, 8]");
    assertRejected(
        file(
            "{\"a\":" + entry("F32", "[2]", 0, 8) + ",\"b\":" + entry("F32", "[2]", 0, 8) + "}",
            eight),
        "overlap");
    assertRejected(
        file("{\"a\":" + entry("F32", "[1]", 4, 8) + "}", eight),
        "tensor \"a\": data_offsets [4, 8] leave a gap of 4 bytes after offset 0");
    assertRejected(
        file("{\"a\":" + entry("F32", "[1]", 0, 4) + "}", eight),
        "the tensors cover 4 bytes of the 8-byte data section");
    assertRejected(
        file("{\"a\":" + entry("F32", "[3]", 0, 12) + "}", eight),
        "tensor \"a\": data_offsets [0, 12] are outside the 8-byte data section");
    assertRejected(
        file("{\"a\":" + entry("F32", "[0]", 8, 4) + "}", eight),
        "data_offsets [8, 4] are outside the 8-byte data section or reversed");
    assertRejected(
        file("{\"a\":" + entry("F32", "[3]", 0, 8) + "}", eight),
        "tensor \"a\": data_offsets [0, 8] span 8 bytes but dtype F32 with shape [3] needs 12");
    assertRejected(
        file(
            "{\"a\":" + entry("F16", "[2,2]", 0, 8) + ",\"b\":" + entry("I8", "[]", 8, 8) + "}",
            eight),
        "tensor \"b\"",
        "span 0 bytes but dtype I8 with shape [] needs 1");
    assertRejected(
        file("{\"a\":" + entry("F32", "[2]", 0, 9223372036854775807L) + "}", eight), "outside");
  }

  @Test
  void rejectsBadMetadata() throws IOException {
    assertRejected(
        file("{\"__metadata__\":{\"step\":3}}", new byte[0]),
        "field \"__metadata__\" key \"step\": value must be a string, got 3");
    assertRejected(
        file("{\"__metadata__\":[\"a\"]}", new byte[0]),
        "field \"__metadata__\" must be an object of strings, got [\"a\"]");
    Path ok = file("{\"__metadata__\":null}", new byte[0]);
    try (SafetensorsReader r = SafetensorsReader.open(ok)) {
      assertTrue(r.metadata().isEmpty());
    }
  }

  @Test
  void cutsLongValuesInMessages() throws IOException {
    String name = "n".repeat(10_000);
    SafetensorsException e =
        assertRejected(
            file("{\"" + name + "\":" + entry("ZZ", "[1]", 0, 4) + "}", f32(1)), "(10000 chars)");
    assertTrue(e.getMessage().length() < 500, e.getMessage());
  }

  @Test
  void rejectsMissingAndShrunkFiles() throws IOException {
    Path missing = dir.resolve("missing.safetensors");
    SafetensorsException e =
        assertThrows(SafetensorsException.class, () -> SafetensorsReader.open(missing));
    assertTrue(e.getMessage().startsWith(missing + ": cannot open"), e.getMessage());

    Path f = dir.resolve("shrinks.safetensors");
    SafetensorsWriter.write(f, Map.of("a", Nd4j.createFromArray(1f, 2f, 3f)), Map.of());
    try (SafetensorsReader r = SafetensorsReader.open(f)) {
      try (var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.WRITE)) {
        ch.truncate(ch.size() - 4);
      }
      e = assertThrows(SafetensorsException.class, () -> r.read("a", DataType.FLOAT));
      assertTrue(e.getMessage().contains("unexpected end of file"), e.getMessage());
      assertTrue(e.getMessage().contains("tensor \"a\""), e.getMessage());
    }
  }
}
