package org.rlhf4j.core.io;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;
import static org.rlhf4j.core.io.SafetensorsHeaderParser.tensorLabel;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads tensors from a safetensors file. {@link #open} reads and validates the whole header, then
 * tensors are read on demand with positional reads, so one reader may serve several threads.
 *
 * <p>The file is treated as hostile: a truncated or malicious file is rejected with a {@link
 * SafetensorsException} (never another exception type), and nothing is allocated from a declared
 * size before that size has been checked against the file size. The rules follow the reference
 * implementation:
 *
 * <ul>
 *   <li>the 8-byte header length is at least 2, at most 100 MiB and fits in the file;
 *   <li>the header is strict UTF-8 JSON (no comments, duplicate keys, or content after the value;
 *       nesting at most 64 deep) and is an object;
 *   <li>{@code __metadata__} is absent, null, or an object whose values are all strings;
 *   <li>every other key is a tensor with exactly the fields {@code dtype} (one of {@link
 *       SafetensorsDtype}), {@code shape} (non-negative integers whose product, times the dtype
 *       size, fits a long) and {@code data_offsets} ({@code [begin, end]}); unknown fields are
 *       rejected rather than ignored;
 *   <li>{@code end - begin} is exactly the tensor's byte size, and the ranges, sorted, tile the
 *       data section exactly: no overlap, no gap, no trailing bytes.
 * </ul>
 *
 * <p>Element conversions: any dtype can be read as {@link DataType#FLOAT} or {@link
 * DataType#DOUBLE} (F16 and BF16 are decoded exactly; integers and booleans convert as by a Java
 * cast); integer and boolean dtypes can be read as {@link DataType#INT32} or {@link DataType#INT64}
 * (reading an I64 value outside the int range as INT32 is an error). {@code DataType.INT} and
 * {@code LONG} are the same constants as {@code INT32} and {@code INT64}.
 *
 * <p>The file is not memory-mapped, so it can be replaced or deleted while open on any platform; a
 * file that shrinks under an open reader gives a {@link SafetensorsException} on read.
 */
public final class SafetensorsReader implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SafetensorsReader.class);

  /** Bytes read per positional read; a multiple of every dtype size. */
  private static final int CHUNK_BYTES = 1 << 20;

  /** The largest element count a Java array (and so one read) can hold. */
  private static final long MAX_ELEMENTS = Integer.MAX_VALUE - 8;

  private final String file;
  private final FileChannel channel;
  private final SafetensorsHeader header;

  private SafetensorsReader(String file, FileChannel channel, SafetensorsHeader header) {
    this.file = file;
    this.channel = channel;
    this.header = header;
  }

  /**
   * Opens {@code path} and validates its header.
   *
   * @param path the safetensors file
   * @return an open reader; close it when done
   * @throws SafetensorsException if the file cannot be opened or its header is invalid
   */
  public static SafetensorsReader open(Path path) {
    checkNotNull(path, "path");
    String file = path.toString();
    FileChannel channel;
    try {
      channel = FileChannel.open(path, StandardOpenOption.READ);
    } catch (IOException e) {
      throw new SafetensorsException(file, "cannot open: " + e, e);
    }
    try {
      SafetensorsHeader header = SafetensorsHeaderParser.read(file, channel);
      log.debug("{}: {} tensors, {} data bytes", file, header.tensors().size(), header.dataSize());
      return new SafetensorsReader(file, channel, header);
    } catch (RuntimeException e) {
      try {
        channel.close();
      } catch (IOException closeError) {
        e.addSuppressed(closeError);
      }
      throw e;
    }
  }

  /** The file, as given to {@link #open}. */
  public String file() {
    return file;
  }

  /**
   * The tensor names in the order of their data in the file (ascending data offset; empty tensors
   * sharing an offset keep their header order). Files written by {@link SafetensorsWriter} list
   * them in the order they were given.
   */
  public List<String> names() {
    return header.tensors().stream().map(TensorInfo::name).toList();
  }

  /** The header entries of all tensors, in the order of {@link #names()}. */
  public List<TensorInfo> tensors() {
    return header.tensors();
  }

  /** Whether the file has a tensor called {@code name}. */
  public boolean contains(String name) {
    return header.byName().containsKey(name);
  }

  /**
   * The header entry of tensor {@code name}.
   *
   * @throws SafetensorsException if there is no such tensor
   */
  public TensorInfo info(String name) {
    checkNotNull(name, "name");
    TensorInfo t = header.byName().get(name);
    if (t == null) {
      throw error("no %s (the file has %d tensors)", tensorLabel(name), header.byName().size());
    }
    return t;
  }

  /** The {@code __metadata__} map of the file (empty if it has none), in file order. */
  public Map<String, String> metadata() {
    return header.metadata();
  }

  /**
   * Reads tensor {@code name} into a new c-order array of its shape.
   *
   * @param name the tensor
   * @param target FLOAT, DOUBLE, INT32 or INT64 (see the class comment for what converts to what)
   * @return a new array
   * @throws SafetensorsException if there is no such tensor, its dtype cannot be read as {@code
   *     target}, it is too large for one Java array, or the file cannot be read
   * @throws IllegalArgumentException if {@code target} is not one of the four types
   */
  public INDArray read(String name, DataType target) {
    checkNotNull(target, "target");
    TensorInfo t = info(name);
    long[] shape = t.shapeArray();
    if (t.elementCount() == 0) {
      checkTarget(t, target);
      return Nd4j.create(target, shape);
    }
    if (target == DataType.FLOAT) {
      return Nd4j.create(readFloats(t), shape, 'c');
    } else if (target == DataType.DOUBLE) {
      return Nd4j.create(readDoubles(t), shape, 'c');
    } else if (target == DataType.INT32) {
      return Nd4j.create(readInts(t), shape, DataType.INT32);
    } else if (target == DataType.INT64) {
      return Nd4j.create(readLongs(t), shape, DataType.INT64);
    }
    throw new IllegalArgumentException(
        "cannot read tensors as " + target + "; use FLOAT, DOUBLE, INT32 or INT64");
  }

  /**
   * Reads tensor {@code name} into {@code destination}, which may be a view (e.g. into a flat
   * parameter buffer) of any ordering. Its data type picks the conversion as in {@link #read}.
   *
   * @param name the tensor
   * @param destination an array of exactly the tensor's shape (rank 0 for a scalar)
   * @throws SafetensorsException if there is no such tensor, the shapes differ, or as for {@link
   *     #read}
   */
  public void readInto(String name, INDArray destination) {
    checkNotNull(destination, "destination");
    TensorInfo t = info(name);
    long[] shape = t.shapeArray();
    if (!Arrays.equals(shape, destination.shape())) {
      throw error(
          "%s has shape %s but the destination has shape %s",
          tensorLabel(name), Arrays.toString(shape), Arrays.toString(destination.shape()));
    }
    if (t.elementCount() == 0) {
      checkTarget(t, destination.dataType());
      return;
    }
    destination.assign(read(name, destination.dataType()));
  }

  /**
   * Reads every tensor, in the order of {@link #names()}.
   *
   * @param target the data type of the arrays, as for {@link #read}
   * @return a new ordered map from name to array
   */
  public Map<String, INDArray> readAll(DataType target) {
    Map<String, INDArray> out = new LinkedHashMap<>();
    for (TensorInfo t : header.tensors()) {
      out.put(t.name(), read(t.name(), target));
    }
    return out;
  }

  /**
   * Closes the file.
   *
   * @throws SafetensorsException if closing fails
   */
  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      throw new SafetensorsException(file, "cannot close: " + e, e);
    }
  }

  private float[] readFloats(TensorInfo t) {
    float[] out = new float[elements(t)];
    readChunks(t, (buf, off, n) -> TensorCodec.toFloat(t.dtype(), buf, out, off, n));
    return out;
  }

  private double[] readDoubles(TensorInfo t) {
    double[] out = new double[elements(t)];
    readChunks(t, (buf, off, n) -> TensorCodec.toDouble(t.dtype(), buf, out, off, n));
    return out;
  }

  private int[] readInts(TensorInfo t) {
    checkTarget(t, DataType.INT32);
    int[] out = new int[elements(t)];
    readChunks(
        t,
        (buf, off, n) -> {
          int bad = TensorCodec.toInt(t.dtype(), buf, out, off, n);
          if (bad >= 0) {
            throw error(
                "%s: element %d = %d does not fit in an int; read it as INT64",
                tensorLabel(t.name()), bad, buf.getLong(buf.position() - 8));
          }
        });
    return out;
  }

  private long[] readLongs(TensorInfo t) {
    checkTarget(t, DataType.INT64);
    long[] out = new long[elements(t)];
    readChunks(t, (buf, off, n) -> TensorCodec.toLong(t.dtype(), buf, out, off, n));
    return out;
  }

  private void checkTarget(TensorInfo t, DataType target) {
    checkArgument(
        target == DataType.FLOAT
            || target == DataType.DOUBLE
            || target == DataType.INT32
            || target == DataType.INT64,
        "cannot read tensors as %s; use FLOAT, DOUBLE, INT32 or INT64",
        target);
    if ((target == DataType.INT32 || target == DataType.INT64) && t.dtype().isFloatingPoint()) {
      throw error(
          "%s has floating-point dtype %s and cannot be read as %s",
          tensorLabel(t.name()), t.dtype(), target);
    }
  }

  private int elements(TensorInfo t) {
    long n = t.elementCount();
    if (n > MAX_ELEMENTS) {
      throw error(
          "%s has %d elements, more than one array can hold (%d)",
          tensorLabel(t.name()), n, MAX_ELEMENTS);
    }
    return (int) n;
  }

  /**
   * Receives {@code count} elements of raw little-endian data for elements {@code [offset, offset +
   * count)}.
   */
  @FunctionalInterface
  private interface ChunkSink {
    void accept(ByteBuffer data, int offset, int count);
  }

  private SafetensorsException error(String format, Object... args) {
    return new SafetensorsException(file, String.format(Locale.ROOT, format, args));
  }

  private void readChunks(TensorInfo t, ChunkSink sink) {
    checkState(channel.isOpen(), "reader for %s is closed", file);
    int size = t.dtype().size();
    long remaining = t.byteLength();
    long position = header.dataStart() + t.begin();
    ByteBuffer buf =
        ByteBuffer.allocate((int) Math.min(CHUNK_BYTES, remaining)).order(ByteOrder.LITTLE_ENDIAN);
    int element = 0;
    try {
      while (remaining > 0) {
        int len = (int) Math.min(buf.capacity(), remaining);
        buf.clear().limit(len);
        while (buf.hasRemaining()) {
          int r = channel.read(buf, position + buf.position());
          if (r < 0) {
            throw error(
                "unexpected end of file at byte %d while reading %s (the file shrank after it was"
                    + " opened)",
                position + buf.position(), tensorLabel(t.name()));
          }
        }
        buf.flip();
        sink.accept(buf, element, len / size);
        element += len / size;
        position += len;
        remaining -= len;
      }
    } catch (IOException e) {
      throw new SafetensorsException(file, "cannot read " + tensorLabel(t.name()) + ": " + e, e);
    }
  }
}
