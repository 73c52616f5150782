package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Seeded random inputs: whatever the bytes, opening and reading a file either succeeds or throws
 * {@link SafetensorsException} naming the file; nothing else (no other exception, no
 * OutOfMemoryError from a declared size) escapes.
 */
@Timeout(60)
class SafetensorsFuzzTest {
  private static final String[] TOKENS = {
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\"dtype\"",
    "\"shape\"",
    "\"data_offsets\"",
    "\"__metadata__\"",
    "\"F32\"",
    "\"F16\"",
    "\"BF16\"",
    "\"I64\"",
    "\"U8\"",
    "\"BOOL\"",
    "\"x\"",
    "\"a\"",
    "0",
    "1",
    "4",
    "8",
    "-1",
    "2.5",
    "1e30",
    "9223372036854775807",
    "18446744073709551616",
    "null",
    "true",
    " ",
    "\\u0000",
    "\u00e9"
  };
  private static final String[] DTYPES = {
    "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"
  };

  @TempDir Path dir;
  private Path target;
  private int opened;
  private int rejected;

  /** Kept open: truncating and rewriting one channel is far cheaper than Files.write per case. */
  private FileChannel out;

  @BeforeEach
  void setUp() throws IOException {
    target = dir.resolve("fuzz.safetensors");
    out = FileChannel.open(target, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
  }

  @AfterEach
  void tearDown() throws IOException {
    out.close();
  }

  /**
   * Writes {@code bytes} and reads everything in it every way; only SafetensorsException may
   * escape.
   */
  private void check(byte[] bytes, String what) throws IOException {
    ByteBuffer buffer = ByteBuffer.wrap(bytes);
    while (buffer.hasRemaining()) {
      out.write(buffer, buffer.position());
    }
    // Truncating after the write (not to 0 before it) avoids ext4's flush-on-close of truncated
    // files.
    out.truncate(bytes.length);
    try (SafetensorsReader r = SafetensorsReader.open(target)) {
      for (TensorInfo t : r.tensors()) {
        INDArray f = r.read(t.name(), DataType.FLOAT);
        r.readInto(t.name(), Nd4j.create(DataType.DOUBLE, f.shape()));
        if (!t.dtype().isFloatingPoint()) {
          r.read(t.name(), DataType.INT64);
          r.read(t.name(), DataType.INT32);
        }
      }
      r.metadata();
      opened++;
    } catch (SafetensorsException e) {
      if (!e.getMessage().startsWith(target + ": ")) {
        fail(what + ": message does not name the file: " + e.getMessage());
      }
      rejected++;
    } catch (Throwable t) {
      fail(what + " (" + bytes.length + " bytes) threw " + t, t);
    }
  }

  private static byte[] validFile(Path dir) throws IOException {
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    tensors.put("w", Nd4j.createFromArray(new float[][] {{1, 2, 3}, {4, 5, 6}}));
    tensors.put("d", Nd4j.scalar(0.25));
    tensors.put("e", Nd4j.create(DataType.FLOAT, 0, 2));
    tensors.put("i", Nd4j.createFromArray(7L, -8L));
    tensors.put("j", Nd4j.createFromArray(1, 2, 3));
    Path p = dir.resolve("valid.safetensors");
    SafetensorsWriter.builder()
        .metadata("format", "pt")
        .add("h", Nd4j.createFromArray(1f, 2f, 3f), SafetensorsDtype.F16)
        .add("b", Nd4j.createFromArray(1f, -1f), SafetensorsDtype.BF16)
        .metadata(Map.of())
        .write(p);
    byte[] small = Files.readAllBytes(p);
    SafetensorsWriter.write(p, tensors, Map.of("k", "v"));
    byte[] bytes = Files.readAllBytes(p);
    return bytes.length > small.length ? bytes : small;
  }

  @Test
  void randomByteStrings() throws IOException {
    Random random = new Random(1);
    for (int i = 0; i < 1500; i++) {
      byte[] b = new byte[random.nextInt(96)];
      random.nextBytes(b);
      if (b.length > 8 && random.nextBoolean()) {
        long n = random.nextInt(b.length);
        byte[] len = SafetensorsTestFiles.le64(n);
        System.arraycopy(len, 0, b, 0, 8);
        if (n > 0) {
          b[8] = '{';
        }
      }
      check(b, "random bytes #" + i);
    }
    assertTrue(rejected > 1000, "rejected " + rejected);
  }

  @Test
  void mutationsOfAValidFile() throws IOException {
    byte[] valid = validFile(dir);
    check(valid, "unmutated file");
    assertTrue(opened == 1, "the unmutated file must open");
    int headerEnd = 8 + (int) SafetensorsTestFiles.headerLength(valid);
    Random random = new Random(2);
    for (int i = 0; i < 2500; i++) {
      byte[] b = valid.clone();
      int mutations = 1 + random.nextInt(4);
      for (int m = 0; m < mutations && b.length > 0; m++) {
        // The header (where the parsing is) or the data (mostly giving files that still open).
        boolean inHeader = random.nextBoolean() || b.length <= headerEnd;
        int pos =
            inHeader
                ? random.nextInt(Math.min(headerEnd, b.length))
                : headerEnd + random.nextInt(b.length - headerEnd);
        switch (random.nextInt(6)) {
          case 0 -> b[pos] ^= (byte) (1 << random.nextInt(8));
          case 1 -> b[pos] = (byte) random.nextInt(256);
          case 2 -> b = Arrays.copyOf(b, random.nextInt(b.length));
          case 3 -> b[pos] = (byte) "{}[]\",:0123456789-e. ".charAt(random.nextInt(21));
          case 4 ->
              b =
                  SafetensorsTestFiles.concat(
                      Arrays.copyOf(b, pos),
                      new byte[] {(byte) random.nextInt(256)},
                      Arrays.copyOfRange(b, pos, b.length));
          default ->
              b =
                  SafetensorsTestFiles.concat(
                      Arrays.copyOf(b, pos), Arrays.copyOfRange(b, pos + 1, b.length));
        }
      }
      check(b, "mutation #" + i);
    }
    assertTrue(opened > 50, "opened " + opened);
    assertTrue(rejected > 1000, "rejected " + rejected);
  }

  @Test
  void randomJsonHeaders() throws IOException {
    Random random = new Random(3);
    for (int i = 0; i < 1500; i++) {
      String header;
      int dataSize;
      if (i % 3 == 0) {
        StringBuilder s = new StringBuilder();
        for (int t = random.nextInt(40); t > 0; t--) {
          s.append(TOKENS[random.nextInt(TOKENS.length)]);
        }
        header = s.toString();
        dataSize = random.nextInt(64);
      } else {
        int[] size = {0};
        header = structuredHeader(random, size);
        dataSize = random.nextInt(8) == 0 ? random.nextInt(64) : size[0];
      }
      byte[] data = new byte[dataSize];
      random.nextBytes(data);
      check(SafetensorsTestFiles.file(header, data), "header #" + i + " " + header);
    }
    assertTrue(opened > 100, "opened " + opened);
    assertTrue(rejected > 500, "rejected " + rejected);
  }

  /**
   * A header that is mostly well-formed, with a random fault now and then; {@code size[0]} gets the
   * data size it implies.
   */
  private static String structuredHeader(Random random, int[] size) {
    StringBuilder s = new StringBuilder("{");
    if (random.nextInt(4) == 0) {
      s.append("\"__metadata__\":")
          .append(random.nextInt(10) == 0 ? "{\"a\":1}" : "{\"a\":\"b\"}")
          .append(',');
    }
    long offset = 0;
    int n = random.nextInt(5);
    for (int t = 0; t < n; t++) {
      String dtype = random.nextInt(20) == 0 ? "X" + t : DTYPES[random.nextInt(DTYPES.length)];
      int elementSize =
          SafetensorsDtype.fromHeaderName(dtype).map(SafetensorsDtype::size).orElse(1);
      int rank = random.nextInt(4);
      long[] shape = new long[rank];
      long numel = 1;
      for (int d = 0; d < rank; d++) {
        shape[d] = random.nextInt(12) == 0 ? fault(random) : random.nextInt(4);
        numel *= shape[d];
      }
      long bytes = numel * elementSize;
      long begin = random.nextInt(12) == 0 ? fault(random) : offset;
      long end = random.nextInt(12) == 0 ? fault(random) : begin + bytes;
      offset = Math.max(offset, end);
      String name = random.nextInt(15) == 0 ? "t0" : "t" + t;
      s.append('"')
          .append(name)
          .append("\":{\"dtype\":\"")
          .append(dtype)
          .append("\",\"shape\":")
          .append(Arrays.toString(shape).replace(" ", ""))
          .append(",\"data_offsets\":[")
          .append(begin)
          .append(',')
          .append(end)
          .append("]}");
      if (t + 1 < n) {
        s.append(',');
      }
    }
    s.append('}');
    size[0] = (int) Math.max(0, Math.min(offset, 256));
    return s.toString();
  }

  private static long fault(Random random) {
    long[] values = {-1, 0, 1, 3, 1L << 31, 1L << 40, 1L << 62, Long.MAX_VALUE, Long.MIN_VALUE};
    return values[random.nextInt(values.length)];
  }
}
