package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.nd4j.linalg.api.buffer.DataType;

/** Builds raw safetensors files for tests. */
final class SafetensorsTestFiles {
  private SafetensorsTestFiles() {}

  /** The 8-byte little-endian encoding of {@code n}. */
  static byte[] le64(long n) {
    return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(n).array();
  }

  /** A file: the header length (unpadded), the header as UTF-8, then {@code data}. */
  static byte[] file(String headerJson, byte[] data) {
    byte[] header = headerJson.getBytes(StandardCharsets.UTF_8);
    return concat(le64(header.length), header, data);
  }

  /** The header length stored in the first 8 bytes of {@code file}. */
  static long headerLength(byte[] file) {
    return ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
  }

  static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  /** Little-endian bytes of {@code values} as F32. */
  static byte[] f32(float... values) {
    ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putFloat(v);
    }
    return b.array();
  }

  static Path write(Path dir, String name, byte[] bytes) throws IOException {
    Path p = dir.resolve(name);
    Files.write(p, bytes);
    return p;
  }

  /**
   * Asserts that opening {@code file} and reading all its tensors fails with a {@link
   * SafetensorsException} whose message names the file and contains every one of {@code snippets}.
   */
  static SafetensorsException assertRejected(Path file, String... snippets) {
    SafetensorsException e =
        assertThrows(
            SafetensorsException.class,
            () -> {
              try (SafetensorsReader r = SafetensorsReader.open(file)) {
                r.readAll(DataType.FLOAT);
              }
            });
    assertTrue(e.getMessage().startsWith(file.toString() + ": "), e.getMessage());
    for (String s : snippets) {
      assertTrue(e.getMessage().contains(s), () -> "expected \"" + s + "\" in: " + e.getMessage());
    }
    return e;
  }
}
