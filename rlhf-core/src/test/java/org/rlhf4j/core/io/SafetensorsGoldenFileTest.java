package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** A tiny file laid out byte by byte from the format description, read and written. */
class SafetensorsGoldenFileTest {
  @TempDir Path dir;

  /** The 195-byte header of the golden file; padded with 5 spaces it is 200 = 0xC8 bytes. */
  private static final String HEADER =
      "{\"__metadata__\":{\"format\":\"pt\"},"
          + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          + "\"b\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[8,16]},"
          + "\"c\":{\"dtype\":\"I32\",\"shape\":[1,0],\"data_offsets\":[16,16]}}";

  private static byte[] golden() {
    byte[] length = {(byte) 0xC8, 0, 0, 0, 0, 0, 0, 0};
    byte[] header = (HEADER + "     ").getBytes(StandardCharsets.US_ASCII);
    byte[] data = {
      0,
      0,
      (byte) 0x80,
      0x3F, // a[0] = 1.0f  (0x3F800000)
      0,
      0,
      0,
      (byte) 0xC0, // a[1] = -2.0f (0xC0000000)
      0,
      0,
      0,
      0,
      0,
      0,
      (byte) 0xE0,
      0x3F // b = 0.5 (0x3FE0000000000000)
    };
    return SafetensorsTestFiles.concat(length, header, data);
  }

  @Test
  void goldenBytesAreWhatTheHeaderSays() {
    assertEquals(195, HEADER.length());
    assertEquals(8 + 200 + 16, golden().length);
  }

  @Test
  void readsGoldenFile() throws Exception {
    Path file = SafetensorsTestFiles.write(dir, "golden.safetensors", golden());
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      assertEquals(List.of("a", "b", "c"), r.names());
      assertEquals(Map.of("format", "pt"), r.metadata());
      TensorInfo a = r.info("a");
      assertEquals(SafetensorsDtype.F32, a.dtype());
      assertEquals(List.of(2L), a.shape());
      assertEquals(0, a.begin());
      assertEquals(8, a.end());
      assertArrayEquals(new float[] {1f, -2f}, r.read("a", DataType.FLOAT).toFloatVector());
      assertArrayEquals(new double[] {1, -2}, r.read("a", DataType.DOUBLE).toDoubleVector());
      INDArray b = r.read("b", DataType.DOUBLE);
      assertEquals(0, b.rank());
      assertEquals(0.5, b.getDouble(0));
      INDArray c = r.read("c", DataType.INT32);
      assertArrayEquals(new long[] {1, 0}, c.shape());
      assertEquals(DataType.INT32, c.dataType());
      assertEquals(List.of(1L, 0L), r.info("c").shape());
      assertEquals(0, r.info("c").elementCount());
    }
  }

  @Test
  void writesGoldenFileByteForByte() throws Exception {
    Path file = dir.resolve("written.safetensors");
    SafetensorsWriter.builder()
        .metadata("format", "pt")
        .add("a", Nd4j.createFromArray(1f, -2f))
        .add("b", Nd4j.scalar(0.5))
        .add("c", Nd4j.create(DataType.INT32, 1, 0))
        .write(file);
    assertArrayEquals(golden(), Files.readAllBytes(file));
  }

  @Test
  void writesEmptyFileWithPaddedHeader() throws Exception {
    Path file = dir.resolve("empty.safetensors");
    SafetensorsWriter.write(file, Map.of(), Map.of());
    byte[] expected =
        SafetensorsTestFiles.concat(
            new byte[] {8, 0, 0, 0, 0, 0, 0, 0}, "{}      ".getBytes(StandardCharsets.US_ASCII));
    assertArrayEquals(expected, Files.readAllBytes(file));
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      assertEquals(List.of(), r.names());
      assertEquals(Map.of(), r.metadata());
    }
  }
}
