package org.rlhf4j.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.testing.TestData;

class SelfInstructReaderTest {
  @TempDir Path dir;

  @Test
  void instructionAndInputFormTheUserTurn() throws IOException {
    Path file = dir.resolve("tasks.jsonl");
    Files.writeString(
        file,
        "{\"id\": \"t0\", \"motivation_app\": \"X\", \"instruction\": \"Fix the grammar.\","
            + " \"instances\": [{\"input\": \"he go home\", \"output\": \"He goes home.\"},"
            + " {\"input\": \"\", \"output\": \"Nothing to fix.\"}]}\n");
    List<SftExample> examples = SelfInstruct.read(file, ChatFormat.plain());
    assertEquals(
        List.of(
            new SftExample("User: Fix the grammar.\n\nhe go home\n\nAssistant: ", "He goes home."),
            new SftExample("User: Fix the grammar.\n\nAssistant: ", "Nothing to fix.")),
        examples);
  }

  @Test
  void malformedTasksNameLineAndField() throws IOException {
    String ok = "{\"instruction\": \"i\", \"instances\": [{\"input\": \"x\", \"output\": \"y\"}]}";
    String[][] cases = {
      {"{\"instances\": [{\"input\": \"x\", \"output\": \"y\"}]}", "missing field \"instruction\""},
      {"{\"instruction\": \"i\", \"instances\": []}", "field \"instances\": must not be an empty array"},
      {"{\"instruction\": \"i\", \"instances\": [{\"output\": \"y\"}]}", "field \"instances[0].input\": missing"},
      {"{\"instruction\": \"i\", \"instances\": [{\"input\": \"x\", \"output\": \"\"}]}",
        "field \"instances[0].output\": must not be empty"},
      {"{\"instruction\": \"i\", \"instances\": [7]}", "field \"instances[0]\": expected an object"},
    };
    for (String[] c : cases) {
      Path file = dir.resolve("bad.jsonl");
      Files.writeString(file, ok + "\n" + c[0] + "\n");
      DataFormatException e =
          assertThrows(DataFormatException.class, () -> SelfInstruct.read(file, ChatFormat.plain()));
      assertTrue(e.getMessage().startsWith("bad.jsonl:2: "), e.getMessage());
      assertTrue(e.getMessage().contains(c[1]), e.getMessage());
    }
  }

  @Test
  void sharedUserOrientedInstructionsLoadCompletely() throws IOException {
    Path file = TestData.require("sft/user_oriented_instructions.jsonl");
    List<SftExample> examples = SelfInstruct.read(file, ChatFormat.plain());
    assertEquals(252, examples.size());
    for (SftExample ex : examples) {
      assertTrue(ex.prompt().startsWith("User: "), ex.prompt());
      assertTrue(ex.prompt().endsWith("\n\nAssistant: "), ex.prompt());
      assertFalse(ex.completion().isBlank());
    }
    assertTrue(examples.get(0).prompt().contains("Rewrite the sentence"), examples.get(0).prompt());
  }
}
