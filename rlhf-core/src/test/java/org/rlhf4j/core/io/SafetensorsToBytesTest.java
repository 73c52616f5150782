package org.rlhf4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** {@link SafetensorsWriter.Builder#toBytes()} gives exactly the bytes {@code write(Path)} writes. */
class SafetensorsToBytesTest {
  @Test
  void toBytesEqualsTheWrittenFile(@TempDir Path dir) throws Exception {
    INDArray f = Nd4j.linspace(DataType.FLOAT, -1, 0.25, 24).reshape(2, 3, 4);
    INDArray d = Nd4j.linspace(DataType.DOUBLE, 3, -0.5, 6).reshape(3, 2).transpose(); // a view, 'f' order
    INDArray big = Nd4j.rand(DataType.FLOAT, 700, 400); // more than one 1 MiB chunk
    SafetensorsWriter.Builder b = SafetensorsWriter.builder().add("f", f).add("d", d).add("h", f, SafetensorsDtype.F16)
        .add("big", big).metadata("k", "v");
    Path file = dir.resolve("x.safetensors");
    b.write(file);
    byte[] bytes = b.toBytes();
    assertArrayEquals(Files.readAllBytes(file), bytes);
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      assertEquals(d, r.read("d", DataType.DOUBLE));
      assertEquals("v", r.metadata().get("k"));
    }
  }
}
