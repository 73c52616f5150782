package org.rlhf4j.reward.data;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.common.collect.ImmutableList;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.rlhf4j.core.data.ChatFormat;
import org.rlhf4j.core.data.ChatMessage;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.data.DataReadException;
import org.rlhf4j.core.data.JsonFiles;
import org.rlhf4j.core.data.JsonRecord;

/**
 * Reads human preference data as {@link Ranking}s. Files are JSON Lines (one record per non-blank
 * line) or a JSON array of records (a file whose first non-blank character is {@code [}, as
 * LLaMA-Factory's {@code .json} files); see {@link JsonFiles}. The record formats are:
 *
 * <ul>
 *   <li>{@link Format#PAIRWISE}, TRL's explicit-prompt preference records {@code {"prompt",
 *       "chosen", "rejected"}}: strings, or TRL conversations (lists of {@code {"role",
 *       "content"}}): a prompt list is rendered with {@link ChatFormat#generationPrompt}, and a
 *       chosen/rejected list must hold exactly one assistant message, whose content is the
 *       response.
 *   <li>{@link Format#IMPLICIT_PROMPT}, TRL's {@code {"chosen", "rejected"}} without a prompt: both
 *       strings (split by {@link ImplicitPrompt#split}) or both conversations, which must each end
 *       with an assistant message and agree on every message before it; the prompt is the
 *       generation prompt of those shared messages and the responses are the two final assistant
 *       contents.
 *   <li>{@link Format#RANKED}, K-way rankings {@code {"prompt", "responses": [...], "ranking": [2,
 *       0, 1]}} with the ranking listing response indices best first, and an optional {@code
 *       "labeller"} string; the prompt may be a conversation as above.
 *   <li>{@link Format#SHAREGPT}, LLaMA-Factory's ShareGPT preference records (see {@link
 *       ShareGpt}).
 * </ul>
 *
 * <p>With {@link Format#AUTO} each record's format is detected from its fields: {@code
 * conversations} means ShareGPT, {@code responses} ranked, {@code prompt} pairwise, and {@code
 * chosen} without {@code prompt} implicit-prompt. Other fields are ignored. Errors are {@link
 * DataFormatException}s naming the file, line (and, in a JSON array, the record index) and field.
 */
public final class PreferenceDatasets {
  private PreferenceDatasets() {}

  /** The record formats; see {@link PreferenceDatasets}. */
  public enum Format {
    /** Detect the format of each record from its fields. */
    AUTO,
    /** {@code {"prompt", "chosen", "rejected"}}. */
    PAIRWISE,
    /** {@code {"chosen", "rejected"}}, the prompt being their common beginning. */
    IMPLICIT_PROMPT,
    /** {@code {"prompt", "responses", "ranking"}}. */
    RANKED,
    /** {@code {"conversations", "chosen", "rejected"}} in ShareGPT form. */
    SHAREGPT
  }

  /**
   * The rankings of {@code file}, formats detected per record, conversations rendered with {@link
   * ChatFormat#plain()}.
   *
   * @throws DataFormatException if a record is malformed
   * @throws DataReadException if the file cannot be read
   */
  public static ImmutableList<Ranking> read(Path file) {
    return read(file, Format.AUTO, ChatFormat.plain());
  }

  /**
   * The rankings of {@code file} in the given format, conversations rendered with {@code chat}.
   *
   * @throws DataFormatException if a record is malformed or not in {@code format}
   * @throws DataReadException if the file cannot be read
   */
  public static ImmutableList<Ranking> read(Path file, Format format, ChatFormat chat) {
    checkNotNull(format, "format");
    checkNotNull(chat, "chat");
    return JsonFiles.read(file, r -> distinctResponses(parse(r, format, chat)));
  }

  /**
   * {@code r}, or a {@link DataFormatException} naming its file and line if two of its responses
   * are identical (e.g. {@code chosen == rejected}): such a comparison teaches nothing and usually
   * means a broken export. Files are refused rather than silently skipped, so that a count of
   * records read always equals the count of records in the file.
   */
  static Ranking distinctResponses(Ranking r) {
    List<String> rs = r.responses();
    for (int i = 0; i < rs.size(); i++) {
      for (int j = 0; j < i; j++) {
        if (rs.get(i).equals(rs.get(j))) {
          throw new DataFormatException(
              r.source(),
              r.line(),
              rs.size() == 2
                  ? "\"chosen\" and \"rejected\" are identical; a comparison needs two different responses"
                  : "responses " + j + " and " + i + " are identical; a ranking needs different responses");
        }
      }
    }
    return r;
  }

  /**
   * The format of one record, judged by its fields (see {@link PreferenceDatasets}); never {@link
   * Format#AUTO}.
   *
   * @throws DataFormatException if the record has none of the known fields
   */
  public static Format detect(JsonRecord record) {
    if (record.has("conversations")) {
      return Format.SHAREGPT;
    }
    if (record.has("responses")) {
      return Format.RANKED;
    }
    if (record.has("prompt")) {
      return Format.PAIRWISE;
    }
    if (record.has("chosen") || record.has("rejected")) {
      return Format.IMPLICIT_PROMPT;
    }
    throw record.error(
        "unknown preference record: expected the fields \"prompt\"/\"chosen\"/\"rejected\","
            + " \"prompt\"/\"responses\"/\"ranking\", or \"conversations\"/\"chosen\"/\"rejected\";"
            + " got the fields "
            + record.fieldNames());
  }

  /**
   * The ranking held by one record.
   *
   * @throws DataFormatException if the record is malformed or not in {@code format}
   */
  public static Ranking parse(JsonRecord record, Format format, ChatFormat chat) {
    checkNotNull(record, "record");
    checkNotNull(chat, "chat");
    switch (format == Format.AUTO ? detect(record) : format) {
      case PAIRWISE:
        return Ranking.pairwise(
            record.source(),
            record.line(),
            prompt(record, chat),
            response(record, "chosen"),
            response(record, "rejected"));
      case IMPLICIT_PROMPT:
        return implicitPrompt(record, chat);
      case RANKED:
        return ranked(record, chat);
      case SHAREGPT:
        return ShareGpt.parse(record, chat);
      default:
        throw new IllegalArgumentException("format " + format);
    }
  }

  private static String prompt(JsonRecord record, ChatFormat chat) {
    JsonNode node = record.required("prompt");
    return node.isArray()
        ? chat.generationPrompt(record.asMessages(node, "prompt"))
        : record.asString(node, "prompt");
  }

  /** A string response, or the content of a list holding one assistant message. */
  private static String response(JsonRecord record, String field) {
    JsonNode node = record.required(field);
    if (!node.isArray()) {
      return record.asNonBlankString(node, field);
    }
    List<ChatMessage> messages = record.asMessages(node, field);
    if (messages.size() != 1 || !messages.get(0).isAssistant()) {
      throw record.error(
          field, "expected a list holding one assistant message, got " + JsonRecord.describe(node));
    }
    return nonBlank(record, messages.get(0).content(), field + "[0].content");
  }

  private static Ranking implicitPrompt(JsonRecord record, ChatFormat chat) {
    JsonNode chosen = record.required("chosen");
    JsonNode rejected = record.required("rejected");
    if (chosen.isArray() != rejected.isArray()) {
      throw record.error(
          "rejected",
          "expected "
              + (chosen.isArray() ? "a list of messages" : "a string")
              + " like \"chosen\", got "
              + JsonRecord.describe(rejected));
    }
    if (!chosen.isArray()) {
      ImplicitPrompt.Split split =
          ImplicitPrompt.split(
              record.asNonBlankString(chosen, "chosen"),
              record.asNonBlankString(rejected, "rejected"));
      return Ranking.pairwise(
          record.source(),
          record.line(),
          split.prompt(),
          nonBlank(record, split.chosen(), "chosen"),
          nonBlank(record, split.rejected(), "rejected"));
    }
    List<ChatMessage> c = record.asMessages(chosen, "chosen");
    List<ChatMessage> r = record.asMessages(rejected, "rejected");
    endsWithAssistant(record, c, "chosen");
    endsWithAssistant(record, r, "rejected");
    List<ChatMessage> context = c.subList(0, c.size() - 1);
    if (!context.equals(r.subList(0, r.size() - 1))) {
      int i = 0;
      while (i < Math.min(c.size(), r.size()) - 1 && c.get(i).equals(r.get(i))) {
        i++;
      }
      throw record.error(
          "rejected",
          "differs from \"chosen\" at message "
              + i
              + ", before the final assistant message (the prompt messages must be the same)");
    }
    return Ranking.pairwise(
        record.source(),
        record.line(),
        chat.generationPrompt(context),
        nonBlank(record, c.get(c.size() - 1).content(), "chosen[" + (c.size() - 1) + "].content"),
        nonBlank(record, r.get(r.size() - 1).content(), "rejected[" + (r.size() - 1) + "].content"));
  }

  private static void endsWithAssistant(
      JsonRecord record, List<ChatMessage> messages, String field) {
    ChatMessage last = messages.get(messages.size() - 1);
    if (!last.isAssistant()) {
      throw record.error(
          field,
          "must end with an assistant message, but message "
              + (messages.size() - 1)
              + " has role \""
              + last.role()
              + "\"");
    }
  }

  private static Ranking ranked(JsonRecord record, ChatFormat chat) {
    String prompt = prompt(record, chat);
    JsonNode responsesNode = record.nonEmptyArray("responses");
    List<String> responses = new ArrayList<>();
    for (int i = 0; i < responsesNode.size(); i++) {
      responses.add(record.asString(responsesNode.get(i), "responses[" + i + "]"));
    }
    JsonNode rankingNode = record.nonEmptyArray("ranking");
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < rankingNode.size(); i++) {
      JsonNode index = rankingNode.get(i);
      if (!index.isInt()) {
        throw record.error(
            "ranking[" + i + "]",
            "expected an integer response index, got " + JsonRecord.describe(index));
      }
      order.add(index.intValue());
    }
    Ranking ranking = Ranking.of(record.source(), record.line(), prompt, responses, order);
    return record.optionalString("labeller").map(ranking::withLabeller).orElse(ranking);
  }

  static String nonBlank(JsonRecord record, String value, String field) {
    if (value.isBlank()) {
      throw record.error(field, "must not be empty");
    }
    return value;
  }
}
