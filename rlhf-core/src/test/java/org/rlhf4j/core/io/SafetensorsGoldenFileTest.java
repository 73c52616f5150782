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

  @Test
  void readsSmallIntegerAndHalfDtypes() throws Exception {
    String header =
        "{\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]},"
            + "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
            + "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[4,6]},"
            + "\"bool\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[6,9]},"
            + "\"f16\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[9,13]},"
            + "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[13,15]}}";
    byte[] data = {
      (byte) 0xFF,
      0x7F, // i8: -1, 127
      (byte) 0xFF,
      0x01, // u8: 255, 1
      (byte) 0xFE,
      (byte) 0xFF, // i16: -2
      0,
      1,
      2, // bool: false, true, true
      0x00,
      0x3C,
      0x55,
      0x35, // f16: 1.0 (0x3C00), 0.333251953125 (0x3555)
      (byte) 0x80,
      (byte) 0xBF // bf16: -1.0 (0xBF80)
    };
    Path file =
        SafetensorsTestFiles.write(
            dir, "ints.safetensors", SafetensorsTestFiles.file(header, data));
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      assertArrayEquals(new int[] {-1, 127}, r.read("i8", DataType.INT32).toIntVector());
      assertArrayEquals(new long[] {255, 1}, r.read("u8", DataType.INT64).toLongVector());
      assertArrayEquals(new float[] {255, 1}, r.read("u8", DataType.FLOAT).toFloatVector());
      assertArrayEquals(new double[] {-2}, r.read("i16", DataType.DOUBLE).toDoubleVector());
      assertArrayEquals(new int[] {0, 1, 1}, r.read("bool", DataType.INT32).toIntVector());
      assertArrayEquals(
          new float[] {1f, 0.333251953125f}, r.read("f16", DataType.FLOAT).toFloatVector());
      assertArrayEquals(new double[] {-1}, r.read("bf16", DataType.DOUBLE).toDoubleVector());
    }
  }
}
