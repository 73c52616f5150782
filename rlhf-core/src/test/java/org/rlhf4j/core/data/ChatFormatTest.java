package org.rlhf4j.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ChatFormatTest {
  private final ChatFormat chat = ChatFormat.plain();

  @Test
  void rendersTurnsWithLabelsAndBlankLines() {
    List<ChatMessage> conversation =
        List.of(
            ChatMessage.system("Be terse."), ChatMessage.user("Hi!"), ChatMessage.assistant("Hello."));
    assertEquals("System: Be terse.\n\nUser: Hi!\n\nAssistant: Hello.", chat.render(conversation));
    assertEquals("", chat.render(List.of()));
    assertEquals("Assistant: ", chat.generationPrompt(List.of()));
    assertEquals(
        "System: Be terse.\n\nUser: Hi!\n\nAssistant: ",
        chat.generationPrompt(conversation.subList(0, 2)));
  }

  @Test
  void sftExampleTrainsOnTheFinalAssistantTurn() {
    List<ChatMessage> conversation =
        List.of(
            ChatMessage.user("2+2?"),
            ChatMessage.assistant("5"),
            ChatMessage.user("Really?"),
            ChatMessage.assistant("4, sorry."));
    SftExample ex = chat.toSftExample(conversation);
    assertEquals("User: 2+2?\n\nAssistant: 5\n\nUser: Really?\n\nAssistant: ", ex.prompt());
    assertEquals("4, sorry.", ex.completion());
    assertEquals(chat.render(conversation), ex.text());
  }

  @Test
  void rejectsConversationsWithoutAFinalAssistantTurn() {
    IllegalArgumentException none =
        assertThrows(
            IllegalArgumentException.class,
            () -> chat.toSftExample(List.of(ChatMessage.user("hi"))));
    assertTrue(none.getMessage().contains("no assistant message"), none.getMessage());
    IllegalArgumentException trailing =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                chat.toSftExample(
                    List.of(
                        ChatMessage.user("hi"), ChatMessage.assistant("yo"), ChatMessage.user("?"))));
    assertTrue(trailing.getMessage().contains("must end with an assistant"), trailing.getMessage());
    assertThrows(
        IllegalArgumentException.class,
        () -> chat.toSftExample(List.of(ChatMessage.user("hi"), ChatMessage.assistant("  "))));
  }

  @Test
  void rejectsUnknownRolesAndBlankCompletions() {
    assertThrows(IllegalArgumentException.class, () -> new ChatMessage("bot", "x"));
    assertThrows(IllegalArgumentException.class, () -> new SftExample("p", " \n"));
    assertEquals("", SftExample.ofText("just text").prompt());
  }

  @Test
  void customLabels() {
    ChatFormat f = new PlainChatFormat("", "Q: ", "A: ", "\n");
    assertEquals(
        "Q: why\nA: because",
        f.render(List.of(ChatMessage.user("why"), ChatMessage.assistant("because"))));
    assertEquals("Q: why\nA: ", f.generationPrompt(List.of(ChatMessage.user("why"))));
  }
}
