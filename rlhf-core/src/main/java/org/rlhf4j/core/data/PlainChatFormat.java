package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkNotNull;

import java.util.List;

/**
 * A chat format for a plain GPT-style language model with no special chat tokens: each turn is
 * written as {@code "<Label>: <content>"} and turns are separated by a blank line. With the default
 * labels
 *
 * <pre>
 * System: You are terse.
 *
 * User: Hi!
 *
 * Assistant: Hello.
 * </pre>
 *
 * is the rendering of a system, a user and an assistant message, and {@link #generationPrompt}
 * of the first two is {@code "System: You are terse.\n\nUser: Hi!\n\nAssistant: "} (note the
 * trailing space; the assistant's content follows it directly). Contents are written verbatim; a
 * content that itself contains {@code "\n\nUser: "} cannot be told apart from a new turn.
 */
public final class PlainChatFormat implements ChatFormat {

  /** {@code "System: "}, {@code "User: "}, {@code "Assistant: "}, turns separated by {@code "\n\n"}. */
  public static final PlainChatFormat DEFAULT =
      new PlainChatFormat("System: ", "User: ", "Assistant: ", "\n\n");

  private final String systemPrefix;
  private final String userPrefix;
  private final String assistantPrefix;
  private final String separator;

  /**
   * A format with the given turn prefixes and separator.
   *
   * @param systemPrefix written before a system message's content, e.g. {@code "System: "}
   * @param userPrefix written before a user message's content
   * @param assistantPrefix written before an assistant message's content, and at the end of a
   *     generation prompt
   * @param separator written between two turns
   */
  public PlainChatFormat(
      String systemPrefix, String userPrefix, String assistantPrefix, String separator) {
    this.systemPrefix = checkNotNull(systemPrefix, "systemPrefix");
    this.userPrefix = checkNotNull(userPrefix, "userPrefix");
    this.assistantPrefix = checkNotNull(assistantPrefix, "assistantPrefix");
    this.separator = checkNotNull(separator, "separator");
  }

  @Override
  public String render(List<ChatMessage> messages) {
    checkNotNull(messages, "messages");
    StringBuilder out = new StringBuilder();
    for (ChatMessage m : messages) {
      if (out.length() > 0) {
        out.append(separator);
      }
      out.append(prefix(m.role())).append(m.content());
    }
    return out.toString();
  }

  @Override
  public String generationPrompt(List<ChatMessage> context) {
    checkNotNull(context, "context");
    return context.isEmpty() ? assistantPrefix : render(context) + separator + assistantPrefix;
  }

  private String prefix(String role) {
    switch (role) {
      case ChatMessage.SYSTEM:
        return systemPrefix;
      case ChatMessage.USER:
        return userPrefix;
      case ChatMessage.ASSISTANT:
        return assistantPrefix;
      default:
        throw new IllegalStateException("unknown role " + role);
    }
  }

  @Override
  public String toString() {
    return "PlainChatFormat[" + systemPrefix + "|" + userPrefix + "|" + assistantPrefix + "]";
  }
}
