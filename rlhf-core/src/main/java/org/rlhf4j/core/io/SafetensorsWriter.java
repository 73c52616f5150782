package org.rlhf4j.core.io;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes tensors to a safetensors file, atomically (see {@link AtomicFiles}): the file is either
 * left as it was or replaced by the complete new file.
 *
 * <p>The header is compact JSON: {@code __metadata__} first (omitted when there is no metadata),
 * then the tensors in the given order, each as {@code
 * {"dtype":..,"shape":[..],"data_offsets":[b,e]}}, padded with spaces to a multiple of 8 bytes as
 * the reference implementation does. The data section holds the tensors contiguously in the same
 * order, row-major and little-endian. Arrays may be views of any ordering and offset; they are
 * streamed in chunks of about a megabyte.
 *
 * <p>Default storage types: FLOAT as F32, DOUBLE as F64, FLOAT16 (HALF) as F16, BFLOAT16 as BF16,
 * INT32 (INT) as I32 and INT64 (LONG) as I64. Floating-point arrays may instead be stored as any of
 * F64, F32, F16 and BF16 (rounding to nearest even); INT32 and INT64 arrays as I32 or I64. Other
 * array types (BOOL, BYTE, ...) are not supported.
 */
public final class SafetensorsWriter {
  private static final Logger log = LoggerFactory.getLogger(SafetensorsWriter.class);
  private static final ObjectMapper MAPPER = new ObjectMapper();

  /** Bytes encoded per write; a multiple of every dtype size. */
  private static final int CHUNK_BYTES = 1 << 20;

  private final Map<String, Entry> tensors;
  private final Map<String, String> metadata;

  private record Entry(INDArray array, SafetensorsDtype dtype) {}

  private SafetensorsWriter(Map<String, Entry> tensors, Map<String, String> metadata) {
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /**
   * Writes {@code tensors} with their default storage types, in the map's iteration order.
   *
   * @param file the file to create or replace
   * @param tensors name to array; use an ordered map (e.g. {@link LinkedHashMap}) for a stable
   *     layout
   * @param metadata the {@code __metadata__} entries (may be empty)
   * @throws SafetensorsException if the file cannot be written
   * @throws IllegalArgumentException if a name is {@code __metadata__} or an array's type is
   *     unsupported
   */
  public static void write(
      Path file, Map<String, ? extends INDArray> tensors, Map<String, String> metadata) {
    checkNotNull(tensors, "tensors");
    Builder b = builder();
    tensors.forEach(b::add);
    b.metadata(metadata).write(file);
  }

  /** A builder for a file with per-tensor storage types. */
  public static Builder builder() {
    return new Builder();
  }

  /** The storage type used by default for arrays of {@code type}. */
  static SafetensorsDtype defaultDtype(DataType type) {
    if (type == DataType.FLOAT) {
      return SafetensorsDtype.F32;
    } else if (type == DataType.DOUBLE) {
      return SafetensorsDtype.F64;
    } else if (type == DataType.FLOAT16) {
      return SafetensorsDtype.F16;
    } else if (type == DataType.BFLOAT16) {
      return SafetensorsDtype.BF16;
    } else if (type == DataType.INT32) {
      return SafetensorsDtype.I32;
    } else if (type == DataType.INT64) {
      return SafetensorsDtype.I64;
    }
    throw new IllegalArgumentException(
        "cannot write arrays of type "
            + type
            + "; use FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT32 or INT64");
  }

  /** Collects tensors (in order) and metadata, then writes them with {@link #write(Path)}. */
  public static final class Builder {
    private final Map<String, Entry> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    private Builder() {}

    /**
     * Adds a tensor stored with the default type for its data type.
     *
     * @param name a name not used before and not {@code __metadata__}
     * @param array the array (not copied: do not change it before {@link #write(Path)})
     * @return this builder
     */
    public Builder add(String name, INDArray array) {
      checkNotNull(array, "array %s", name);
      return add(name, array, defaultDtype(array.dataType()));
    }

    /**
     * Adds a tensor stored as {@code dtype}.
     *
     * @param name a name not used before and not {@code __metadata__}
     * @param array the array (not copied: do not change it before {@link #write(Path)})
     * @param dtype the storage type: any floating-point dtype for a floating-point array, I32 or
     *     I64 for an INT32 or INT64 array
     * @return this builder
     */
    public Builder add(String name, INDArray array, SafetensorsDtype dtype) {
      checkNotNull(name, "name");
      checkNotNull(array, "array %s", name);
      checkNotNull(dtype, "dtype of %s", name);
      checkArgument(
          !name.equals(SafetensorsHeaderParser.METADATA_KEY),
          "a tensor may not be called %s",
          name);
      checkArgument(!tensors.containsKey(name), "tensor %s added twice", name);
      DataType type = array.dataType();
      boolean floating = defaultDtype(type).isFloatingPoint();
      boolean integer = dtype == SafetensorsDtype.I32 || dtype == SafetensorsDtype.I64;
      checkArgument(
          floating ? dtype.isFloatingPoint() : integer,
          "tensor %s: an array of type %s cannot be stored as %s",
          name,
          type,
          dtype);
      tensors.put(name, new Entry(array, dtype));
      return this;
    }

    /**
     * Adds a {@code __metadata__} entry.
     *
     * @param key the key
     * @param value the value
     * @return this builder
     */
    public Builder metadata(String key, String value) {
      checkNotNull(key, "metadata key");
      checkNotNull(value, "metadata value of %s", key);
      metadata.put(key, value);
      return this;
    }

    /**
     * Adds all of {@code entries} to the {@code __metadata__}.
     *
     * @param entries keys and values, none null
     * @return this builder
     */
    public Builder metadata(Map<String, String> entries) {
      checkNotNull(entries, "metadata");
      entries.forEach(this::metadata);
      return this;
    }

    /**
     * Writes the file atomically.
     *
     * @param file the file to create or replace
     * @throws SafetensorsException if the file cannot be written (it is then unchanged)
     */
    public void write(Path file) {
      checkNotNull(file, "file");
      new SafetensorsWriter(new LinkedHashMap<>(tensors), new LinkedHashMap<>(metadata))
          .writeTo(file);
    }

    /**
     * The bytes {@link #write(Path)} would write, in memory (e.g. to send a model over the network
     * without a file).
     *
     * @throws IllegalArgumentException if the file would be 2 GiB or more (a Java array's limit)
     */
    public byte[] toBytes() {
      return new SafetensorsWriter(new LinkedHashMap<>(tensors), new LinkedHashMap<>(metadata))
          .bytes();
    }
  }

  private byte[] bytes() {
    byte[] header = header();
    long size = 8L + header.length;
    for (Map.Entry<String, Entry> e : tensors.entrySet()) {
      size += TensorInfo.byteCount(e.getValue().dtype(), e.getValue().array().shape());
    }
    checkArgument(size < Integer.MAX_VALUE - 8, "the file would be %s bytes, too large for an array", size);
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream((int) size);
    try {
      WritableByteChannel channel = java.nio.channels.Channels.newChannel(out);
      ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
      writeFully(channel, prefix.flip());
      writeFully(channel, ByteBuffer.wrap(header));
      ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
      for (Map.Entry<String, Entry> e : tensors.entrySet()) {
        writeData(channel, e.getKey(), e.getValue(), chunk);
      }
    } catch (IOException e) {
      throw new IllegalStateException("writing to memory failed: " + e, e);
    }
    return out.toByteArray();
  }

  private void writeTo(Path file) {
    byte[] header = header();
    checkArgument(
        header.length <= SafetensorsHeaderParser.MAX_HEADER_LENGTH,
        "the header of %s would be %s bytes, more than readers accept (%s)",
        file,
        header.length,
        SafetensorsHeaderParser.MAX_HEADER_LENGTH);
    try {
      AtomicFiles.writeChannel(
          file,
          channel -> {
            ByteBuffer prefix =
                ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
            writeFully(channel, prefix.flip());
            writeFully(channel, ByteBuffer.wrap(header));
            ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            for (Map.Entry<String, Entry> e : tensors.entrySet()) {
              writeData(channel, e.getKey(), e.getValue(), chunk);
            }
          });
    } catch (IOException e) {
      throw new SafetensorsException(file.toString(), "cannot write: " + e, e);
    }
    log.debug("{}: wrote {} tensors", file, tensors.size());
  }

  /** The header JSON, padded with spaces to a multiple of 8 bytes. */
  byte[] header() {
    ObjectNode root = MAPPER.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = root.putObject(SafetensorsHeaderParser.METADATA_KEY);
      metadata.forEach(meta::put);
    }
    long offset = 0;
    for (Map.Entry<String, Entry> e : tensors.entrySet()) {
      long[] shape = e.getValue().array().shape();
      SafetensorsDtype dtype = e.getValue().dtype();
      long bytes = TensorInfo.byteCount(dtype, shape);
      checkArgument(bytes >= 0, "tensor %s is too large", e.getKey());
      ObjectNode t = root.putObject(e.getKey());
      t.put("dtype", dtype.name());
      ArrayNode s = t.putArray("shape");
      for (long d : shape) {
        s.add(d);
      }
      t.putArray("data_offsets").add(offset).add(offset + bytes);
      offset += bytes;
    }
    byte[] json;
    try {
      json = MAPPER.writeValueAsBytes(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise a header of JSON nodes", e);
    }
    int padded = (json.length + 7) / 8 * 8;
    byte[] out = new byte[padded];
    System.arraycopy(json, 0, out, 0, json.length);
    for (int i = json.length; i < padded; i++) {
      out[i] = ' ';
    }
    return out;
  }

  private static void writeData(
      WritableByteChannel channel, String name, Entry entry, ByteBuffer chunk) throws IOException {
    INDArray array = entry.array();
    long n = array.length();
    if (n == 0) {
      return;
    }
    // A c-order row of all elements: a view where possible, otherwise a copy in c order.
    INDArray flat = array.reshape('c', new long[] {n});
    SafetensorsDtype dtype = entry.dtype();
    int perChunk = CHUNK_BYTES / dtype.size();
    for (long start = 0; start < n; start += perChunk) {
      int count = (int) Math.min(perChunk, n - start);
      INDArray part =
          start == 0 && count == n ? flat : flat.get(NDArrayIndex.interval(start, start + count));
      chunk.clear();
      DataType type = array.dataType();
      if (type == DataType.DOUBLE) {
        TensorCodec.fromDouble(dtype, part.toDoubleVector(), 0, count, chunk);
      } else if (type == DataType.INT32) {
        TensorCodec.fromInt(dtype, part.toIntVector(), 0, count, chunk);
      } else if (type == DataType.INT64) {
        long[] values = part.toLongVector();
        int bad = TensorCodec.fromLong(dtype, values, 0, count, chunk);
        checkArgument(
            bad < 0,
            "tensor %s: element %s = %s does not fit in %s",
            name,
            start + bad,
            bad < 0 ? 0 : values[bad],
            dtype);
      } else {
        TensorCodec.fromFloat(dtype, floats(part), 0, count, chunk);
      }
      writeFully(channel, chunk.flip());
    }
  }

  private static float[] floats(INDArray part) {
    return part.dataType() == DataType.FLOAT
        ? part.toFloatVector()
        : part.castTo(DataType.FLOAT).toFloatVector();
  }

  private static void writeFully(WritableByteChannel channel, ByteBuffer buffer)
      throws IOException {
    while (buffer.hasRemaining()) {
      channel.write(buffer);
    }
  }
}
