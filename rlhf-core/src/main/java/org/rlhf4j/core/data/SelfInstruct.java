package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.common.collect.ImmutableList;
import java.nio.file.Path;
import java.util.List;

/**
 * Reads instruction-following demonstrations in the self-instruct JSON Lines form (e.g. {@code
 * sft/user_oriented_instructions.jsonl} of the shared data): one task per line, {@code {"id":
 * ..., "instruction": "...", "instances": [{"input": "...", "output": "..."}, ...]}}; other fields
 * (such as {@code motivation_app}) are ignored.
 *
 * <p>Every instance becomes one {@link SftExample}: the prompt is the {@linkplain
 * ChatFormat#generationPrompt generation prompt} of a single user message holding the instruction,
 * followed by a blank line and the input when the input is not blank; the completion is the output.
 */
public final class SelfInstruct {
  private SelfInstruct() {}

  /**
   * The examples of {@code file}, prompts rendered with {@code chat}.
   *
   * @throws DataFormatException if a line is malformed: invalid JSON, a missing or blank {@code
   *     instruction}, missing or empty {@code instances}, an instance without a string {@code input}
   *     or with a blank {@code output}
   * @throws DataReadException if the file cannot be read
   */
  public static ImmutableList<SftExample> read(Path file, ChatFormat chat) {
    checkNotNull(chat, "chat");
    List<List<SftExample>> tasks = JsonFiles.read(file, r -> parse(r, chat));
    return tasks.stream().flatMap(List::stream).collect(ImmutableList.toImmutableList());
  }

  /**
   * The examples of one task record.
   *
   * @throws DataFormatException if the record is malformed
   */
  public static ImmutableList<SftExample> parse(JsonRecord record, ChatFormat chat) {
    String instruction = record.nonBlankString("instruction").strip();
    JsonNode instances = record.nonEmptyArray("instances");
    ImmutableList.Builder<SftExample> out = ImmutableList.builder();
    for (int i = 0; i < instances.size(); i++) {
      String at = "instances[" + i + "]";
      JsonNode instance = instances.get(i);
      if (!instance.isObject()) {
        throw record.error(at, "expected an object {\"input\", \"output\"}, got "
            + JsonRecord.describe(instance));
      }
      String input = record.asString(instance.get("input"), at + ".input").strip();
      String output = record.asNonBlankString(instance.get("output"), at + ".output");
      String request = input.isEmpty() ? instruction : instruction + "\n\n" + input;
      out.add(new SftExample(chat.generationPrompt(List.of(ChatMessage.user(request))), output));
    }
    return out.build();
  }
}
