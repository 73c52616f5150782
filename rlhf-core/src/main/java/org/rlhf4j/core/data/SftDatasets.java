package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.common.collect.ImmutableList;
import java.io.BufferedReader;
import java.nio.file.Path;
import java.util.List;

/**
 * Reads supervised fine-tuning data in TRL's formats, one example per record. Files are JSON Lines
 * (one record per non-blank line) or, when they start with {@code [}, a JSON array of records (see
 * {@link JsonFiles}). The records are:
 *
 * <ul>
 *   <li>{@link Format#PROMPT_COMPLETION}: {@code {"prompt": "...", "completion": "..."}}. TRL's
 *       conversational variant is accepted too: {@code prompt} may be a list of messages (rendered
 *       with {@link ChatFormat#generationPrompt}) and {@code completion} a list holding one
 *       assistant message.
 *   <li>{@link Format#TEXT}: {@code {"text": "..."}}, plain text for language modelling: empty
 *       prompt, the text as completion.
 *   <li>{@link Format#MESSAGES}: {@code {"messages": [{"role": ..., "content": ...}, ...]}}, turned
 *       into an example by {@link ChatFormat#toSftExample} (loss on the final assistant turn).
 * </ul>
 *
 * <p>With {@link Format#AUTO} the format is detected per line: {@code messages} if that field is
 * present, else prompt-completion if {@code prompt} or {@code completion} is, else text if {@code
 * text} is. Other fields are ignored. A malformed line fails with a {@link DataFormatException}
 * such as {@code train.jsonl:17: field "completion": expected a string, got 42}.
 */
public final class SftDatasets {
  private SftDatasets() {}

  /** The record formats; see {@link SftDatasets}. */
  public enum Format {
    /** Detect the format of each line from its fields. */
    AUTO,
    /** {@code {"prompt", "completion"}}. */
    PROMPT_COMPLETION,
    /** {@code {"text"}}. */
    TEXT,
    /** {@code {"messages"}}. */
    MESSAGES
  }

  /**
   * The examples of {@code file}, formats detected per line, conversations rendered with {@link
   * ChatFormat#plain()}.
   *
   * @throws DataFormatException if a line is malformed
   * @throws DataReadException if the file cannot be read
   */
  public static ImmutableList<SftExample> read(Path file) {
    return read(file, Format.AUTO, ChatFormat.plain());
  }

  /**
   * The examples of {@code file} in the given format, conversations rendered with {@code chat}.
   *
   * @throws DataFormatException if a line is malformed or not in {@code format}
   * @throws DataReadException if the file cannot be read
   */
  public static ImmutableList<SftExample> read(Path file, Format format, ChatFormat chat) {
    checkNotNull(format, "format");
    checkNotNull(chat, "chat");
    return JsonFiles.read(file, r -> parse(r, format, chat));
  }

  /**
   * The examples read as JSON Lines from {@code in}; {@code source} names it in error messages.
   *
   * @throws DataFormatException if a line is malformed or not in {@code format}
   * @throws DataReadException if {@code in} fails
   */
  public static ImmutableList<SftExample> read(
      BufferedReader in, String source, Format format, ChatFormat chat) {
    checkNotNull(format, "format");
    checkNotNull(chat, "chat");
    return JsonFiles.readLines(in, source, r -> parse(r, format, chat));
  }

  /**
   * The format of one record, judged by its fields (see {@link SftDatasets}); never {@link
   * Format#AUTO}.
   *
   * @throws DataFormatException if the record has none of the known fields
   */
  public static Format detect(JsonRecord record) {
    if (record.has("messages")) {
      return Format.MESSAGES;
    }
    if (record.has("prompt") || record.has("completion")) {
      return Format.PROMPT_COMPLETION;
    }
    if (record.has("text")) {
      return Format.TEXT;
    }
    throw record.error(
        "unknown record format: expected the field \"messages\", \"prompt\" and \"completion\", or"
            + " \"text\"; got the fields "
            + record.fieldNames()
            + (record.has("instruction") && record.has("instances")
                ? " (this is the self-instruct format: read it with SelfInstruct.read)"
                : ""));
  }

  /**
   * The example held by one record.
   *
   * @throws DataFormatException if the record is malformed or not in {@code format}
   */
  public static SftExample parse(JsonRecord record, Format format, ChatFormat chat) {
    checkNotNull(record, "record");
    checkNotNull(chat, "chat");
    switch (format == Format.AUTO ? detect(record) : format) {
      case TEXT:
        return SftExample.ofText(record.nonBlankString("text"));
      case MESSAGES:
        return conversation(record, record.messages("messages"), "messages", chat);
      case PROMPT_COMPLETION:
        return promptCompletion(record, chat);
      default:
        throw new IllegalArgumentException("format " + format);
    }
  }

  /**
   * The example of the conversation {@code messages}, read from the field {@code field} of {@code
   * record}: see {@link ChatFormat#toSftExample}.
   *
   * @throws DataFormatException naming {@code field} if the conversation has no final assistant
   *     turn or it is empty
   */
  public static SftExample conversation(
      JsonRecord record, List<ChatMessage> messages, String field, ChatFormat chat) {
    try {
      return chat.toSftExample(messages);
    } catch (IllegalArgumentException e) {
      throw record.error(field, e.getMessage());
    }
  }

  private static SftExample promptCompletion(JsonRecord record, ChatFormat chat) {
    JsonNode promptNode = record.required("prompt");
    String prompt =
        promptNode.isArray()
            ? chat.generationPrompt(record.asMessages(promptNode, "prompt"))
            : record.asString(promptNode, "prompt");
    JsonNode completionNode = record.required("completion");
    String completion;
    if (completionNode.isArray()) {
      List<ChatMessage> reply = record.asMessages(completionNode, "completion");
      if (reply.size() != 1 || !reply.get(0).isAssistant()) {
        throw record.error(
            "completion",
            "expected a list holding one assistant message, got "
                + JsonRecord.describe(completionNode));
      }
      completion = reply.get(0).content();
      if (completion.isBlank()) {
        throw record.error("completion[0].content", "must not be empty");
      }
    } else {
      completion = record.asNonBlankString(completionNode, "completion");
    }
    return new SftExample(prompt, completion);
  }
}
