package org.rlhf4j.core.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Reads and validates the header of a safetensors file, treating the file as hostile: every size is
 * checked against the file size before anything is allocated from it, and every problem becomes a
 * {@link SafetensorsException}.
 *
 * <p>The rules are listed in the class comment of {@link SafetensorsReader}.
 */
final class SafetensorsHeaderParser {
  /** The largest header accepted, in bytes (100 MiB). */
  static final long MAX_HEADER_LENGTH = 100L << 20;

  static final String METADATA_KEY = "__metadata__";
  private static final Set<String> TENSOR_FIELDS = Set.of("dtype", "shape", "data_offsets");
  private static final int MAX_QUOTED = 120;

  private static final ObjectMapper MAPPER =
      JsonMapper.builder(
              JsonFactory.builder()
                  .streamReadConstraints(
                      StreamReadConstraints.builder()
                          .maxNestingDepth(64)
                          .maxNumberLength(64)
                          // Names and strings are bounded by the header length instead.
                          .maxNameLength((int) MAX_HEADER_LENGTH)
                          .maxStringLength((int) MAX_HEADER_LENGTH)
                          .build())
                  .build())
          .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .build();

  private final String file;

  private SafetensorsHeaderParser(String file) {
    this.file = file;
  }

  /**
   * Reads and validates the header of {@code channel}.
   *
   * @param file the file name for messages
   * @param channel the open file, read with positional reads
   * @return the header
   * @throws SafetensorsException if the header is malformed or cannot be read
   */
  static SafetensorsHeader read(String file, FileChannel channel) {
    SafetensorsHeaderParser p = new SafetensorsHeaderParser(file);
    try {
      return p.read(channel);
    } catch (IOException e) {
      throw new SafetensorsException(file, "cannot read header: " + e, e);
    }
  }

  private SafetensorsHeader read(FileChannel channel) throws IOException {
    long fileSize = channel.size();
    if (fileSize < 8) {
      throw error("file is " + fileSize + " bytes, too short for the 8-byte header length");
    }
    ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    readFully(channel, prefix, 0, "header length");
    long n = prefix.getLong(0);
    long limit = Math.min(MAX_HEADER_LENGTH, fileSize - 8);
    if (n < 2 || n > limit) {
      throw error(
          "header length %s is out of range: must be at least 2 and at most %d"
              + " (file size %d, header limit %d)",
          Long.toUnsignedString(n), limit, fileSize, MAX_HEADER_LENGTH);
    }
    ByteBuffer headerBytes = ByteBuffer.allocate((int) n);
    readFully(channel, headerBytes, 8, "header");
    headerBytes.flip();
    return parse(decodeUtf8(headerBytes), 8 + n, fileSize - 8 - n);
  }

  private SafetensorsHeader parse(String json, long dataStart, long dataSize) {
    JsonNode root;
    try {
      root = MAPPER.readTree(json);
    } catch (IOException e) {
      throw new SafetensorsException(file, "header is not valid JSON: " + jacksonMessage(e), e);
    }
    if (root == null || !root.isObject()) {
      throw error("header must be a JSON object, got " + describe(root));
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    List<TensorInfo> tensors = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (e.getKey().equals(METADATA_KEY)) {
        parseMetadata(e.getValue(), metadata);
      } else {
        tensors.add(parseTensor(e.getKey(), e.getValue(), dataSize));
      }
    }
    tensors.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
    Map<String, TensorInfo> byName = new LinkedHashMap<>();
    long covered = 0;
    TensorInfo previous = null;
    for (TensorInfo t : tensors) {
      if (t.begin() < covered) {
        throw error(
            "%s: data_offsets %s overlap %s at %s",
            tensorLabel(t.name()), range(t), tensorLabel(previous.name()), range(previous));
      }
      if (t.begin() > covered) {
        throw error(
            "%s: data_offsets %s leave a gap of %d bytes after offset %d",
            tensorLabel(t.name()), range(t), t.begin() - covered, covered);
      }
      covered = t.end();
      previous = t;
      byName.put(t.name(), t);
    }
    if (covered != dataSize) {
      throw error(
          "the tensors cover %d bytes of the %d-byte data section; the remaining bytes belong to"
              + " no tensor",
          covered, dataSize);
    }
    return new SafetensorsHeader(tensors, byName, metadata, dataStart, dataSize);
  }

  private void parseMetadata(JsonNode node, Map<String, String> out) {
    if (node.isNull()) {
      return;
    }
    if (!node.isObject()) {
      throw error(
          "field \"" + METADATA_KEY + "\" must be an object of strings, got " + describe(node));
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isTextual()) {
        throw error(
            "field \"%s\" key %s: value must be a string, got %s",
            METADATA_KEY, quote(e.getKey()), describe(e.getValue()));
      }
      out.put(e.getKey(), e.getValue().textValue());
    }
  }

  private TensorInfo parseTensor(String name, JsonNode node, long dataSize) {
    String label = tensorLabel(name);
    if (!node.isObject()) {
      throw error(label + ": entry must be an object, got " + describe(node));
    }
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String field = it.next();
      if (!TENSOR_FIELDS.contains(field)) {
        throw error(label + ": unexpected field " + quote(field));
      }
    }
    JsonNode dtypeNode = required(node, label, "dtype");
    if (!dtypeNode.isTextual()) {
      throw error(label + ": field \"dtype\" must be a string, got " + describe(dtypeNode));
    }
    SafetensorsDtype dtype =
        SafetensorsDtype.fromHeaderName(dtypeNode.textValue())
            .orElseThrow(
                () -> error(label + ": unsupported dtype " + quote(dtypeNode.textValue())));
    long[] shape = longArray(required(node, label, "shape"), label, "shape", -1);
    long bytes = TensorInfo.byteCount(dtype, shape);
    if (bytes < 0) {
      throw error(label + ": shape " + describe(node.get("shape")) + " has too many elements");
    }
    long[] offsets = longArray(required(node, label, "data_offsets"), label, "data_offsets", 2);
    long begin = offsets[0];
    long end = offsets[1];
    if (begin > end || end > dataSize) {
      throw error(
          "%s: data_offsets [%d, %d] are outside the %d-byte data section or reversed",
          label, begin, end, dataSize);
    }
    if (end - begin != bytes) {
      throw error(
          "%s: data_offsets [%d, %d] span %d bytes but dtype %s with shape %s needs %d",
          label, begin, end, end - begin, dtype, describe(node.get("shape")), bytes);
    }
    List<Long> shapeList = new ArrayList<>(shape.length);
    for (long d : shape) {
      shapeList.add(d);
    }
    return new TensorInfo(name, dtype, shapeList, begin, end);
  }

  private JsonNode required(JsonNode node, String label, String field) {
    JsonNode v = node.get(field);
    if (v == null) {
      throw error(label + ": missing field \"" + field + "\"");
    }
    return v;
  }

  /** A JSON array of non-negative longs; {@code length} -1 means any length. */
  private long[] longArray(JsonNode node, String label, String field, int length) {
    if (!node.isArray() || (length >= 0 && node.size() != length)) {
      String want = length >= 0 ? "an array of " + length + " integers" : "an array of integers";
      throw error(label + ": field \"" + field + "\" must be " + want + ", got " + describe(node));
    }
    long[] out = new long[node.size()];
    for (int i = 0; i < out.length; i++) {
      JsonNode v = node.get(i);
      if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
        throw error(
            "%s: field \"%s\" element %d must be a non-negative integer below 2^63, got %s",
            label, field, i, describe(v));
      }
      out[i] = v.longValue();
    }
    return out;
  }

  private void readFully(FileChannel channel, ByteBuffer buffer, long position, String what)
      throws IOException {
    long pos = position;
    while (buffer.hasRemaining()) {
      int r = channel.read(buffer, pos);
      if (r < 0) {
        throw error("unexpected end of file at byte " + pos + " while reading the " + what);
      }
      pos += r;
    }
  }

  /** Strict UTF-8: malformed bytes are an error rather than replaced. */
  private String decodeUtf8(ByteBuffer bytes) {
    CharsetDecoder decoder =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    // UTF-8 never yields more chars than bytes, so this buffer is large enough.
    CharBuffer chars = CharBuffer.allocate(bytes.remaining());
    CoderResult result = decoder.decode(bytes, chars, true);
    if (!result.isError()) {
      result = decoder.flush(chars);
    }
    if (result.isError() || result.isOverflow()) {
      throw error("header is not valid UTF-8 at file offset " + (8 + bytes.position()));
    }
    return chars.flip().toString();
  }

  private SafetensorsException error(String problem) {
    return new SafetensorsException(file, problem);
  }

  private SafetensorsException error(String format, Object... args) {
    return new SafetensorsException(file, String.format(Locale.ROOT, format, args));
  }

  private static String range(TensorInfo t) {
    return "[" + t.begin() + ", " + t.end() + "]";
  }

  static String tensorLabel(String name) {
    return "tensor " + quote(name);
  }

  /** {@code s} in double quotes, cut to a readable length, with control characters escaped. */
  static String quote(String s) {
    StringBuilder out = new StringBuilder("\"");
    int n = Math.min(s.length(), MAX_QUOTED);
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      if (c < 0x20 || c == 0x7f) {
        out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
      } else {
        out.append(c);
      }
    }
    out.append('"');
    if (s.length() > MAX_QUOTED) {
      out.append("...(").append(s.length()).append(" chars)");
    }
    return out.toString();
  }

  private static String describe(JsonNode node) {
    if (node == null || node.isMissingNode()) {
      return "nothing";
    }
    String s = node.toString();
    return s.length() > MAX_QUOTED
        ? s.substring(0, MAX_QUOTED) + "...(" + s.length() + " chars)"
        : s;
  }

  /** Jackson's message without its boilerplate source description, with line and column. */
  private static String jacksonMessage(IOException e) {
    String m = e.getMessage();
    if (e instanceof JsonProcessingException jpe) {
      m = jpe.getOriginalMessage();
      JsonLocation where = jpe.getLocation();
      if (where != null && where.getLineNr() > 0) {
        m += " (line " + where.getLineNr() + ", column " + where.getColumnNr() + ")";
      }
    }
    if (m == null) {
      return e.toString();
    }
    return m.length() > 300 ? m.substring(0, 300) + "..." : m;
  }
}
