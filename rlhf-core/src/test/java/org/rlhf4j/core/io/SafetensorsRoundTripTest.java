package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class SafetensorsRoundTripTest {
  @TempDir Path dir;

  private static INDArray range(DataType type, long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return Nd4j.arange(n).castTo(type).muli(0.5).subi(3).reshape('c', shape);
  }

  /** Exact equality of values (NaN equals NaN, -0.0 differs from 0.0; longs compared as longs). */
  private static void assertSameValues(INDArray expected, INDArray actual, String what) {
    if (expected.isEmpty()) {
      assertTrue(actual.isEmpty(), what);
    } else if (expected.dataType() == DataType.INT64 || expected.dataType() == DataType.INT32) {
      assertArrayEquals(
          expected.reshape(expected.length()).toLongVector(),
          actual.reshape(actual.length()).toLongVector(),
          what);
    } else {
      assertArrayEquals(
          expected.reshape(expected.length()).toDoubleVector(),
          actual.reshape(actual.length()).toDoubleVector(),
          what);
    }
  }

  @Test
  void roundTripsShapesTypesAndMetadata() {
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    tensors.put("matrix", range(DataType.FLOAT, 3, 4));
    tensors.put("vector64", range(DataType.DOUBLE, 5));
    tensors.put("scalar", Nd4j.scalar(2.25f));
    tensors.put("scalar64", Nd4j.scalar(-1e300));
    tensors.put("empty", Nd4j.create(DataType.FLOAT, 0, 3));
    tensors.put("empty3d", Nd4j.create(DataType.DOUBLE, 2, 0, 5));
    tensors.put("cube", range(DataType.FLOAT, 2, 3, 4));
    tensors.put(
        "ints", Nd4j.createFromArray(new int[] {Integer.MIN_VALUE, -1, 0, 7, Integer.MAX_VALUE}));
    tensors.put(
        "longs",
        Nd4j.createFromArray(new long[] {Long.MIN_VALUE, 1L << 40, Long.MAX_VALUE}).reshape(3, 1));
    tensors.put(
        "specials",
        Nd4j.createFromArray(Float.NaN, Float.POSITIVE_INFINITY, -0.0f, Float.MIN_VALUE));
    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put("format", "pt");
    metadata.put("step", "1200");
    metadata.put("note", "ünïcödé \"quoted\" \n newline");
    Path file = dir.resolve("model.safetensors");
    SafetensorsWriter.write(file, tensors, metadata);

    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      assertEquals(List.copyOf(tensors.keySet()), r.names());
      assertEquals(metadata, r.metadata());
      assertEquals(List.copyOf(metadata.keySet()), List.copyOf(r.metadata().keySet()));
      for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
        INDArray expected = e.getValue();
        INDArray actual = r.read(e.getKey(), expected.dataType());
        assertEquals(expected.dataType(), actual.dataType(), e.getKey());
        assertArrayEquals(expected.shape(), actual.shape(), e.getKey());
        assertEquals('c', actual.ordering());
        assertSameValues(expected, actual, e.getKey());
      }
      assertEquals(SafetensorsDtype.F64, r.info("vector64").dtype());
      assertEquals(SafetensorsDtype.I32, r.info("ints").dtype());
      assertEquals(SafetensorsDtype.I64, r.info("longs").dtype());
      assertEquals(List.of(), r.info("scalar").shape());
      assertEquals(4, r.info("scalar").byteLength());
      // Cross conversions: F32 as DOUBLE, F64 as FLOAT, I32 as INT64 and FLOAT.
      assertEquals(range(DataType.DOUBLE, 3, 4), r.read("matrix", DataType.DOUBLE));
      assertEquals(range(DataType.FLOAT, 5), r.read("vector64", DataType.FLOAT));
      assertArrayEquals(
          new long[] {Integer.MIN_VALUE, -1, 0, 7, Integer.MAX_VALUE},
          r.read("ints", DataType.INT64).toLongVector());
      assertArrayEquals(
          new float[] {Integer.MIN_VALUE, -1, 0, 7, Integer.MAX_VALUE},
          r.read("ints", DataType.FLOAT).toFloatVector());
      float[] specials = r.read("specials", DataType.FLOAT).toFloatVector();
      assertTrue(Float.isNaN(specials[0]));
      assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(specials[2]));
      assertEquals(Float.MIN_VALUE, specials[3]);
    }
  }

  @Test
  void roundTripsUnusualNames() {
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    tensors.put("", Nd4j.scalar(1f));
    tensors.put("model.layers.0.attn\n\"q\"\u0001ü", Nd4j.scalar(2f));
    tensors.put("x".repeat(60_000), Nd4j.scalar(3f)); // longer than Jackson's default name limit
    Path file = dir.resolve("names.safetensors");
    SafetensorsWriter.write(file, tensors, Map.of("k".repeat(60_000), "v".repeat(60_000)));
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      assertEquals(List.copyOf(tensors.keySet()), r.names());
      assertEquals(3f, r.read("x".repeat(60_000), DataType.FLOAT).getFloat(0));
      assertEquals("v".repeat(60_000), r.metadata().get("k".repeat(60_000)));
    }
  }

  @Test
  void writesViewsAndNonCOrderArraysInRowMajorOrder() {
    INDArray big = range(DataType.FLOAT, 6, 7);
    INDArray block =
        big.get(NDArrayIndex.interval(1, 4), NDArrayIndex.interval(2, 6)); // offset view
    INDArray column = big.getColumn(3); // strided view
    INDArray transposed = big.transpose(); // f-order view
    INDArray fOrder = range(DataType.DOUBLE, 3, 5).dup('f');
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    tensors.put("block", block);
    tensors.put("column", column);
    tensors.put("transposed", transposed);
    tensors.put("fOrder", fOrder);
    Path file = dir.resolve("views.safetensors");
    SafetensorsWriter.write(file, tensors, Map.of());
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
        assertEquals(
            e.getValue().dup('c'), r.read(e.getKey(), e.getValue().dataType()), e.getKey());
      }
      assertArrayEquals(
          new float[] {-3 + 0.5f * 9, -3 + 0.5f * 10, -3 + 0.5f * 11, -3 + 0.5f * 12},
          r.read("block", DataType.FLOAT).getRow(0).toFloatVector());
    }
  }

  @Test
  void streamsTensorsLargerThanOneChunk() {
    // 300,000 floats = 1.2 MB, more than the 1 MiB chunks of reader and writer; an offset view.
    INDArray flat = Nd4j.rand(DataType.FLOAT, 300_010);
    INDArray big = flat.get(NDArrayIndex.interval(10, 300_010)).reshape('c', 600, 500);
    INDArray doubles = Nd4j.rand(DataType.DOUBLE, 140_000); // 1.12 MB
    Path file = dir.resolve("big.safetensors");
    SafetensorsWriter.write(file, Map.of("big", big, "doubles", doubles), Map.of());
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      assertEquals(big, r.read("big", DataType.FLOAT));
      assertEquals(doubles, r.read("doubles", DataType.DOUBLE));
    }
  }

  @Test
  void readsIntoViewsOfAFlatParameterBuffer() {
    INDArray w = range(DataType.FLOAT, 4, 3);
    INDArray b = range(DataType.FLOAT, 3).addi(100);
    INDArray s = Nd4j.scalar(9f);
    Path file = dir.resolve("params.safetensors");
    SafetensorsWriter.write(file, Map.of("w", w, "b", b, "s", s), Map.of());

    INDArray params = Nd4j.zeros(DataType.FLOAT, 1 + 12 + 3 + 1);
    INDArray wView = params.get(NDArrayIndex.interval(1, 13)).reshape('c', 4, 3);
    INDArray bView = params.get(NDArrayIndex.interval(13, 16));
    INDArray sView = params.get(NDArrayIndex.point(16));
    INDArray fDest = Nd4j.create(DataType.DOUBLE, new long[] {4, 3}, 'f');
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      r.readInto("w", wView);
      r.readInto("b", bView);
      r.readInto("s", sView);
      r.readInto("w", fDest);
      SafetensorsException e =
          assertThrows(
              SafetensorsException.class, () -> r.readInto("w", Nd4j.zeros(DataType.FLOAT, 3, 4)));
      assertTrue(
          e.getMessage()
              .contains("tensor \"w\" has shape [4, 3] but the destination has shape [3, 4]"),
          e.getMessage());
    }
    assertEquals(0f, params.getFloat(0));
    assertEquals(w, wView);
    assertEquals(b, bView);
    assertEquals(9f, params.getFloat(16));
    assertEquals(w.castTo(DataType.DOUBLE), fDest);
    assertArrayEquals(
        w.toFloatMatrix()[1], params.get(NDArrayIndex.interval(4, 7)).toFloatVector());
  }

  @Test
  void storesFloatsAsHalfAndBfloat16() {
    INDArray exact = Nd4j.createFromArray(1f, -2f, 0.5f, 65504f, 0x1p-24f);
    INDArray inexact = Nd4j.createFromArray(1f / 3, 1e-3f, 70000f);
    Path file = dir.resolve("half.safetensors");
    SafetensorsWriter.builder()
        .add("h", exact, SafetensorsDtype.F16)
        .add("b", exact.get(NDArrayIndex.interval(0, 3)), SafetensorsDtype.BF16)
        .add("hi", inexact, SafetensorsDtype.F16)
        .add("bi", inexact, SafetensorsDtype.BF16)
        .add("d", exact.castTo(DataType.DOUBLE), SafetensorsDtype.F32)
        .write(file);
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      assertEquals(SafetensorsDtype.F16, r.info("h").dtype());
      assertEquals(10, r.info("h").byteLength());
      assertEquals(exact, r.read("h", DataType.FLOAT));
      assertEquals(exact.get(NDArrayIndex.interval(0, 3)), r.read("b", DataType.FLOAT));
      assertArrayEquals(
          new float[] {0.333251953125f, 0.0010004043579101562f, Float.POSITIVE_INFINITY},
          r.read("hi", DataType.FLOAT).toFloatVector());
      assertArrayEquals(
          new float[] {0.333984375f, 0.00099945068359375f, 70144f},
          r.read("bi", DataType.FLOAT).toFloatVector());
      assertEquals(SafetensorsDtype.F32, r.info("d").dtype());
      assertEquals(exact.castTo(DataType.DOUBLE), r.read("d", DataType.DOUBLE));
    }
  }

  @Test
  void rejectsReadsThatDoNotFit() {
    Path file = dir.resolve("types.safetensors");
    SafetensorsWriter.write(
        file,
        Map.of("f", range(DataType.FLOAT, 2), "l", Nd4j.createFromArray(1L, 1L << 33)),
        Map.of());
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      SafetensorsException e =
          assertThrows(SafetensorsException.class, () -> r.read("f", DataType.INT32));
      assertTrue(
          e.getMessage()
              .contains("tensor \"f\" has floating-point dtype F32 and cannot be read as INT"),
          e.getMessage());
      e = assertThrows(SafetensorsException.class, () -> r.read("l", DataType.INT32));
      assertTrue(
          e.getMessage().contains("tensor \"l\": element 1 = 8589934592 does not fit in an int"),
          e.getMessage());
      e = assertThrows(SafetensorsException.class, () -> r.info("missing"));
      assertTrue(e.getMessage().startsWith(file + ": no tensor \"missing\""), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> r.read("f", DataType.UTF8));
    }
  }

  @Test
  void rejectsBadWriterArguments() {
    INDArray x = range(DataType.FLOAT, 2);
    assertThrows(
        IllegalArgumentException.class, () -> SafetensorsWriter.builder().add("__metadata__", x));
    assertThrows(
        IllegalArgumentException.class, () -> SafetensorsWriter.builder().add("x", x).add("x", x));
    assertThrows(
        IllegalArgumentException.class,
        () -> SafetensorsWriter.builder().add("x", x, SafetensorsDtype.I32));
    assertThrows(
        IllegalArgumentException.class,
        () ->
            SafetensorsWriter.builder().add("x", Nd4j.createFromArray(1, 2), SafetensorsDtype.F32));
    assertThrows(
        IllegalArgumentException.class,
        () -> SafetensorsWriter.builder().add("x", Nd4j.createFromArray(true, false)));
  }

  @Test
  void failedWriteLeavesThePreviousFile() throws Exception {
    Path file = dir.resolve("keep.safetensors");
    SafetensorsWriter.write(file, Map.of("a", range(DataType.FLOAT, 3)), Map.of("v", "1"));
    byte[] before = Files.readAllBytes(file);
    // The second tensor cannot be narrowed to I32; this is found while streaming, after the header.
    SafetensorsWriter.Builder b =
        SafetensorsWriter.builder()
            .add("a", range(DataType.FLOAT, 1000))
            .add("l", Nd4j.createFromArray(1L, 1L << 40), SafetensorsDtype.I32);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.write(file));
    assertTrue(
        e.getMessage().contains("tensor l: element 1 = 1099511627776 does not fit in I32"),
        e.getMessage());
    assertArrayEquals(before, Files.readAllBytes(file));
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(List.of(file), files.toList());
    }
  }
}
