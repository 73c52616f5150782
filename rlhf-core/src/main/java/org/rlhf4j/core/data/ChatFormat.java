package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.List;

/**
 * Renders a conversation into the plain text a language model is trained on.
 *
 * <p>Implementations must satisfy, for every {@code context} and assistant message {@code m}:
 * {@code render(context + [m]) == generationPrompt(context) + m.content()}, so that a prompt
 * produced by {@link #generationPrompt} followed by the model's reply reads exactly like a rendered
 * conversation.
 */
public interface ChatFormat {

  /** The default format, {@link PlainChatFormat#DEFAULT}. */
  static ChatFormat plain() {
    return PlainChatFormat.DEFAULT;
  }

  /** The text of the whole conversation {@code messages} (empty for no messages). */
  String render(List<ChatMessage> messages);

  /**
   * The text that asks the model for the next assistant turn after {@code context}: the rendering of
   * {@code context} followed by the assistant prefix (e.g. {@code "...\n\nAssistant: "}).
   */
  String generationPrompt(List<ChatMessage> context);

  /**
   * The SFT example of a conversation, as TRL trains on conversational data with the loss on the
   * final assistant turn: the prompt is {@link #generationPrompt} of every message before the last
   * message, which must be an assistant message, and the completion is that message's content.
   *
   * @throws IllegalArgumentException if {@code conversation} has no assistant message, does not end
   *     with one, or the final assistant message is blank
   */
  default SftExample toSftExample(List<ChatMessage> conversation) {
    checkNotNull(conversation, "conversation");
    checkArgument(
        conversation.stream().anyMatch(ChatMessage::isAssistant),
        "the conversation has no assistant message");
    ChatMessage last = conversation.get(conversation.size() - 1);
    checkArgument(
        last.isAssistant(),
        "the conversation must end with an assistant message, but message %s has role \"%s\"",
        conversation.size() - 1,
        last.role());
    checkArgument(
        !last.content().isBlank(),
        "the final assistant message (message %s) is empty",
        conversation.size() - 1);
    return new SftExample(
        generationPrompt(conversation.subList(0, conversation.size() - 1)), last.content());
  }
}
