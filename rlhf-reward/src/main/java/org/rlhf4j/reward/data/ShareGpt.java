package org.rlhf4j.reward.data;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.nio.file.Path;
import org.rlhf4j.core.data.ChatFormat;
import org.rlhf4j.core.data.ChatMessage;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.data.DataReadException;
import org.rlhf4j.core.data.JsonFiles;
import org.rlhf4j.core.data.JsonRecord;

/**
 * Reads preference data in LLaMA-Factory's ShareGPT form (e.g. {@code preference/dpo_en_demo.json}
 * of the shared data): a JSON array (or JSON Lines) of records
 *
 * <pre>{@code
 * {"conversations": [{"from": "system", "value": "..."}, {"from": "human", "value": "..."},
 *                    {"from": "gpt", "value": "..."}, ..., {"from": "human", "value": "..."}],
 *  "chosen":   {"from": "gpt", "value": "..."},
 *  "rejected": {"from": "gpt", "value": "..."}}
 * }</pre>
 *
 * <p>The roles {@code human}, {@code gpt} and {@code system} map to {@code user}, {@code assistant}
 * and {@code system}; the conversation must end with a {@code human} turn. The prompt is the
 * {@linkplain ChatFormat#generationPrompt generation prompt} of the conversation; chosen and
 * rejected are {@code gpt} turns whose values are the two responses. Errors name the file, the line
 * where the record starts and its 0-based array index, e.g. {@code dpo_en_demo.json:812: record
 * [17]: field "chosen.value": must not be empty}.
 */
public final class ShareGpt {
  private static final ImmutableMap<String, String> ROLES =
      ImmutableMap.of(
          "human", ChatMessage.USER, "gpt", ChatMessage.ASSISTANT, "system", ChatMessage.SYSTEM);

  private ShareGpt() {}

  /**
   * The comparisons of {@code file}, prompts rendered with {@code chat}.
   *
   * @throws DataFormatException if a record is malformed
   * @throws DataReadException if the file cannot be read
   */
  public static ImmutableList<Ranking> read(Path file, ChatFormat chat) {
    checkNotNull(chat, "chat");
    return JsonFiles.read(file, r -> PreferenceDatasets.distinctResponses(parse(r, chat)));
  }

  /**
   * The comparison held by one ShareGPT record.
   *
   * @throws DataFormatException if the record is malformed: a missing field, a turn that is not a
   *     {@code {"from", "value"}} object, an unknown {@code from}, a conversation not ending with a
   *     {@code human} turn, a chosen/rejected turn not from {@code gpt}, or an empty response
   */
  public static Ranking parse(JsonRecord record, ChatFormat chat) {
    checkNotNull(record, "record");
    checkNotNull(chat, "chat");
    JsonNode turns = record.nonEmptyArray("conversations");
    ImmutableList.Builder<ChatMessage> context = ImmutableList.builder();
    ChatMessage last = null;
    for (int i = 0; i < turns.size(); i++) {
      last = turn(record, turns.get(i), "conversations[" + i + "]");
      context.add(last);
    }
    if (!ChatMessage.USER.equals(last.role())) {
      int i = turns.size() - 1;
      throw record.error(
          "conversations",
          "must end with a \"human\" turn, but turn " + i + " is from "
              + JsonRecord.describe(turns.get(i).get("from")));
    }
    String chosen = reply(record, record.required("chosen"), "chosen");
    String rejected = reply(record, record.required("rejected"), "rejected");
    return Ranking.pairwise(
        record.source(), record.line(), chat.generationPrompt(context.build()), chosen, rejected);
  }

  private static ChatMessage turn(JsonRecord record, JsonNode node, String field) {
    if (!node.isObject()) {
      throw record.error(
          field, "expected a turn {\"from\", \"value\"}, got " + JsonRecord.describe(node));
    }
    String from = record.asString(node.get("from"), field + ".from");
    String role = ROLES.get(from);
    if (role == null) {
      throw record.error(
          field + ".from",
          "unknown speaker " + JsonRecord.describe(node.get("from"))
              + " (expected human, gpt or system)");
    }
    return new ChatMessage(role, record.asString(node.get("value"), field + ".value"));
  }

  private static String reply(JsonRecord record, JsonNode node, String field) {
    ChatMessage m = turn(record, node, field);
    if (!m.isAssistant()) {
      throw record.error(
          field + ".from", "expected \"gpt\", got " + JsonRecord.describe(node.get("from")));
    }
    return PreferenceDatasets.nonBlank(record, m.content(), field + ".value");
  }
}
