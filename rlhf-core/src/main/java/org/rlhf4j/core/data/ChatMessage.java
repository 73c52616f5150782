package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableSet;

/**
 * One turn of a conversation: a role ({@value #SYSTEM}, {@value #USER} or {@value #ASSISTANT}) and
 * its text, as in TRL's conversational datasets ({@code {"role": "user", "content": "..."}}).
 *
 * @param role one of {@link #ROLES}
 * @param content the text of the turn; may be empty (a {@link ChatFormat} or reader decides whether
 *     an empty turn is acceptable where it appears)
 */
public record ChatMessage(String role, String content) {

  /** The role of a system (instruction) message. */
  public static final String SYSTEM = "system";

  /** The role of a message written by the user. */
  public static final String USER = "user";

  /** The role of a message written by the model. */
  public static final String ASSISTANT = "assistant";

  /** The accepted roles. */
  public static final ImmutableSet<String> ROLES = ImmutableSet.of(SYSTEM, USER, ASSISTANT);

  /**
   * Checks the role and content.
   *
   * @throws IllegalArgumentException if {@code role} is not one of {@link #ROLES}
   */
  public ChatMessage {
    checkNotNull(role, "role");
    checkNotNull(content, "content");
    checkArgument(
        ROLES.contains(role), "unknown role \"%s\" (expected system, user or assistant)", role);
  }

  /** A {@value #SYSTEM} message. */
  public static ChatMessage system(String content) {
    return new ChatMessage(SYSTEM, content);
  }

  /** A {@value #USER} message. */
  public static ChatMessage user(String content) {
    return new ChatMessage(USER, content);
  }

  /** An {@value #ASSISTANT} message. */
  public static ChatMessage assistant(String content) {
    return new ChatMessage(ASSISTANT, content);
  }

  /** Whether this message was written by the model. */
  public boolean isAssistant() {
    return ASSISTANT.equals(role);
  }
}
