package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.ImmutableList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;

/**
 * One JSON object read from a data file, with its location, and typed field access whose failures
 * are {@link DataFormatException}s naming the file, the line, the field and the bad value, e.g.
 * {@code train.jsonl:17: field "completion": expected a string, got 42}.
 *
 * <p>Readers use it for every JSON format: JSON Lines ({@link #parseLine}) and elements of a JSON
 * array ({@link #ofElement}, whose errors also name the array index).
 */
public final class JsonRecord {
  /** Rejects duplicate keys and, for a line, anything after its object. */
  static final ObjectMapper MAPPER =
      new ObjectMapper()
          .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final int MAX_SHOWN = 60;

  private final String source;
  private final long line;
  private final String label;
  private final JsonNode node;

  private JsonRecord(String source, long line, String label, JsonNode node) {
    this.source = checkNotNull(source, "source");
    this.line = line;
    this.label = label;
    this.node = checkNotNull(node, "node");
  }

  /**
   * Parses line {@code line} of {@code source}, which must hold one JSON object.
   *
   * @throws DataFormatException if the text is not valid JSON or not an object
   */
  public static JsonRecord parseLine(String source, long line, String text) {
    JsonNode node;
    try {
      node = MAPPER.readTree(text);
    } catch (JsonProcessingException e) {
      throw new DataFormatException(
          source, line, "invalid JSON: " + e.getOriginalMessage().replace('\n', ' '), e);
    }
    if (node == null || !node.isObject()) {
      throw new DataFormatException(
          source, line, "expected a JSON object, got " + describe(node));
    }
    return new JsonRecord(source, line, "", node);
  }

  /**
   * The element {@code index} (0-based) of a JSON array in {@code source}, starting on line {@code
   * line}; its errors read {@code source:line: record [index]: ...}.
   *
   * @throws DataFormatException if the element is not an object
   */
  public static JsonRecord ofElement(String source, long line, long index, JsonNode node) {
    checkNotNull(node, "node");
    String label = "record [" + index + "]: ";
    if (!node.isObject()) {
      throw new DataFormatException(
          source, line, label + "expected a JSON object, got " + describe(node));
    }
    return new JsonRecord(source, line, label, node);
  }

  /** The file name or other description of where the record comes from. */
  public String source() {
    return source;
  }

  /** The 1-based line of the record (its first line, for an element of a JSON array). */
  public long line() {
    return line;
  }

  /** The JSON object. */
  public JsonNode node() {
    return node;
  }

  /** Whether the object has the field {@code field} (even with a {@code null} value). */
  public boolean has(String field) {
    return node.has(field);
  }

  /** The names of the object's fields, in order. */
  public List<String> fieldNames() {
    ImmutableList.Builder<String> names = ImmutableList.builder();
    node.fieldNames().forEachRemaining(names::add);
    return names.build();
  }

  /**
   * The value of {@code field}.
   *
   * @throws DataFormatException if the field is missing
   */
  public JsonNode required(String field) {
    JsonNode value = node.get(field);
    if (value == null) {
      throw error("missing field \"" + field + "\"");
    }
    return value;
  }

  /**
   * The string value of {@code field}; it may be empty.
   *
   * @throws DataFormatException if the field is missing or not a string
   */
  public String string(String field) {
    return asString(required(field), field);
  }

  /**
   * The string value of {@code field}, which must not be blank.
   *
   * @throws DataFormatException if the field is missing, not a string or blank
   */
  public String nonBlankString(String field) {
    return asNonBlankString(required(field), field);
  }

  /**
   * The string value of {@code field}, or empty if it is missing or {@code null}.
   *
   * @throws DataFormatException if the field is present but not a string
   */
  public Optional<String> optionalString(String field) {
    JsonNode value = node.get(field);
    if (value == null || value.isNull()) {
      return Optional.empty();
    }
    return Optional.of(asString(value, field));
  }

  /**
   * {@code value}, the value of the (possibly nested, e.g. {@code messages[2].content}) field
   * {@code field}, as a string.
   *
   * @throws DataFormatException if it is not a string
   */
  public String asString(JsonNode value, String field) {
    if (value == null) {
      throw error(field, "missing");
    }
    if (!value.isTextual()) {
      throw error(field, "expected a string, got " + describe(value));
    }
    return value.textValue();
  }

  /**
   * {@code value}, the value of the field {@code field}, as a non-blank string.
   *
   * @throws DataFormatException if it is not a string or is blank
   */
  public String asNonBlankString(JsonNode value, String field) {
    String s = asString(value, field);
    if (s.isBlank()) {
      throw error(field, "must not be empty, got " + describe(value));
    }
    return s;
  }

  /**
   * The value of {@code field} as a non-empty array.
   *
   * @throws DataFormatException if the field is missing, not an array or empty
   */
  public JsonNode nonEmptyArray(String field) {
    return asNonEmptyArray(required(field), field);
  }

  /**
   * {@code value}, the value of the field {@code field}, as a non-empty array.
   *
   * @throws DataFormatException if it is not an array or is empty
   */
  public JsonNode asNonEmptyArray(JsonNode value, String field) {
    if (value == null || !value.isArray()) {
      throw error(field, "expected an array, got " + describe(value));
    }
    if (value.isEmpty()) {
      throw error(field, "must not be an empty array");
    }
    return value;
  }

  /**
   * The value of {@code field}: a TRL conversation, a non-empty array of {@code {"role": ...,
   * "content": ...}} objects with roles {@code system}, {@code user} or {@code assistant}.
   *
   * @throws DataFormatException if the field is missing or not such an array
   */
  public List<ChatMessage> messages(String field) {
    return asMessages(required(field), field);
  }

  /**
   * {@code value}, the value of the field {@code field}, as a TRL conversation (see {@link
   * #messages}).
   *
   * @throws DataFormatException if it is not a non-empty array of messages
   */
  public List<ChatMessage> asMessages(JsonNode value, String field) {
    asNonEmptyArray(value, field);
    ImmutableList.Builder<ChatMessage> messages = ImmutableList.builder();
    int i = 0;
    for (Iterator<JsonNode> it = value.elements(); it.hasNext(); i++) {
      JsonNode m = it.next();
      String at = field + "[" + i + "]";
      if (!m.isObject()) {
        throw error(at, "expected a message object {\"role\", \"content\"}, got " + describe(m));
      }
      String role = asString(m.get("role"), at + ".role");
      if (!ChatMessage.ROLES.contains(role)) {
        throw error(
            at + ".role",
            "unknown role " + describe(m.get("role")) + " (expected system, user or assistant)");
      }
      messages.add(new ChatMessage(role, asString(m.get("content"), at + ".content")));
    }
    return messages.build();
  }

  /** An error about the field {@code field} of this record: {@code source:line: field "f": problem}. */
  public DataFormatException error(String field, String problem) {
    return error("field \"" + field + "\": " + problem);
  }

  /** An error about this record as a whole: {@code source:line: problem}. */
  public DataFormatException error(String problem) {
    return new DataFormatException(source, line, label + problem);
  }

  /**
   * A short description of a JSON value for error messages: {@code 42}, {@code null}, {@code "a
   * string"}, {@code an array [1,2]}, {@code an object {...}}, {@code nothing} (for a missing value);
   * long values are shortened.
   */
  public static String describe(JsonNode value) {
    if (value == null || value.isMissingNode()) {
      return "nothing";
    }
    String json = value.toString();
    if (json.length() > MAX_SHOWN) {
      json = json.substring(0, MAX_SHOWN) + "...";
    }
    if (value.isArray()) {
      return "an array " + json;
    }
    if (value.isObject()) {
      return "an object " + json;
    }
    return json;
  }

  @Override
  public String toString() {
    return source + ":" + line + ": " + label + describe(node);
  }
}
