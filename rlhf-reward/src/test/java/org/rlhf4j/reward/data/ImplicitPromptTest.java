package org.rlhf4j.reward.data;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.rlhf4j.reward.data.ImplicitPrompt.Split;

class ImplicitPromptTest {

  @Test
  void cutsAtTheLastSharedWordBoundary() {
    assertEquals(
        new Split("The sky is", " blue.", " green."),
        ImplicitPrompt.split("The sky is blue.", "The sky is green."));
    assertEquals(
        new Split("User: Hi\n\nAssistant:", " Hello", " Go away"),
        ImplicitPrompt.split("User: Hi\n\nAssistant: Hello", "User: Hi\n\nAssistant: Go away"));
    // Never inside a word: "cat"/"car" share "ca" but the cut goes back to the space.
    assertEquals(new Split("A", " cat", " car"), ImplicitPrompt.split("A cat", "A car"));
    // One text a prefix of the other.
    assertEquals(new Split("A", " B", " B C"), ImplicitPrompt.split("A B", "A B C"));
    // A run of whitespace goes to the responses.
    assertEquals(new Split("Q:", "\n\n yes", "\n\n no"), ImplicitPrompt.split("Q:\n\n yes", "Q:\n\n no"));
  }

  @Test
  void noSharedBoundaryGivesAnEmptyPrompt() {
    assertEquals(new Split("", "yes", "no"), ImplicitPrompt.split("yes", "no"));
    assertEquals(new Split("", "word", "words"), ImplicitPrompt.split("word", "words"));
  }
}
