package org.rlhf4j.reward.data;

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
import org.rlhf4j.core.data.ChatFormat;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.testing.TestData;

class ShareGptReaderTest {
  @TempDir Path dir;

  private static final String GOOD =
      "{\"conversations\": [{\"from\": \"system\", \"value\": \"Be kind.\"},"
          + " {\"from\": \"human\", \"value\": \"Hi\"}, {\"from\": \"gpt\", \"value\": \"Hello\"},"
          + " {\"from\": \"human\", \"value\": \"Joke?\"}],"
          + " \"chosen\": {\"from\": \"gpt\", \"value\": \"Knock knock.\"},"
          + " \"rejected\": {\"from\": \"gpt\", \"value\": \"No.\"}}";

  @Test
  void conversationBecomesThePrompt() throws IOException {
    Path file = dir.resolve("demo.json");
    Files.writeString(file, "[\n" + GOOD + ",\n" + GOOD + "\n]\n");
    List<Ranking> rankings = ShareGpt.read(file, ChatFormat.plain());
    Ranking expected =
        Ranking.pairwise(
            "x",
            0,
            "System: Be kind.\n\nUser: Hi\n\nAssistant: Hello\n\nUser: Joke?\n\nAssistant: ",
            "Knock knock.",
            "No.");
    assertEquals(List.of(expected, expected), rankings);
    assertEquals(List.of(2L, 3L), rankings.stream().map(Ranking::line).toList());
  }

  @Test
  void malformedRecordsNameFileLineIndexAndField() throws IOException {
    String[][] cases = {
      {GOOD.replace("\"from\": \"system\"", "\"from\": \"bot\""),
        "field \"conversations[0].from\": unknown speaker \"bot\""},
      {GOOD.replace("\"value\": \"Knock knock.\"", "\"value\": \"\""),
        "field \"chosen.value\": must not be empty"},
      {GOOD.replace("{\"from\": \"gpt\", \"value\": \"No.\"}", "{\"from\": \"human\", \"value\": \"No.\"}"),
        "field \"rejected.from\": expected \"gpt\", got \"human\""},
      {GOOD.replace(", {\"from\": \"human\", \"value\": \"Joke?\"}", ""),
        "field \"conversations\": must end with a \"human\" turn, but turn 2 is from \"gpt\""},
      {GOOD.replace("\"value\": \"Hi\"", "\"value\": 7"),
        "field \"conversations[1].value\": expected a string, got 7"},
      {"{\"conversations\": [], \"chosen\": {}, \"rejected\": {}}",
        "field \"conversations\": must not be an empty array"},
      {GOOD.replace(", \"rejected\": {\"from\": \"gpt\", \"value\": \"No.\"}", ""),
        "missing field \"rejected\""},
      {"\"just a string\"", "expected a JSON object, got \"just a string\""},
    };
    for (String[] c : cases) {
      Path file = dir.resolve("bad.json");
      Files.writeString(file, "[\n" + GOOD + ",\n" + GOOD + ",\n" + c[0] + "\n]\n");
      DataFormatException e =
          assertThrows(DataFormatException.class, () -> ShareGpt.read(file, ChatFormat.plain()));
      assertTrue(e.getMessage().startsWith("bad.json:4: record [2]: "), e.getMessage());
      assertTrue(e.getMessage().contains(c[1]), e.getMessage());
    }
  }

  @Test
  void invalidJsonNamesTheLine() throws IOException {
    Path file = dir.resolve("broken.json");
    Files.writeString(file, "[\n" + GOOD + ",\n{\"conversations\": [}\n]\n");
    DataFormatException e =
        assertThrows(DataFormatException.class, () -> ShareGpt.read(file, ChatFormat.plain()));
    assertTrue(e.getMessage().startsWith("broken.json:3: invalid JSON"), e.getMessage());
    Files.writeString(file, "[\n" + GOOD + ",\n");
    e = assertThrows(DataFormatException.class, () -> ShareGpt.read(file, ChatFormat.plain()));
    assertTrue(e.getMessage().contains("invalid JSON"), e.getMessage());
    Files.writeString(file, "[\n" + GOOD.replace("\"chosen\"", "\"rejected\"") + "\n]");
    e = assertThrows(DataFormatException.class, () -> ShareGpt.read(file, ChatFormat.plain()));
    assertTrue(
        e.getMessage().startsWith("broken.json:2: invalid JSON: Duplicate field 'rejected'"),
        e.getMessage());
    Files.writeString(file, "[\n" + GOOD + "\n] []");
    e = assertThrows(DataFormatException.class, () -> ShareGpt.read(file, ChatFormat.plain()));
    assertTrue(e.getMessage().contains("after the end of the JSON array"), e.getMessage());
  }

  @Test
  void sharedDpoDemoLoadsCompletely() throws IOException {
    Path file = TestData.require("preference/dpo_en_demo.json");
    List<Ranking> rankings = PreferenceDatasets.read(file);
    assertEquals(300, rankings.size());
    assertEquals(rankings, ShareGpt.read(file, ChatFormat.plain()));
    for (Ranking r : rankings) {
      assertEquals(2, r.k());
      assertTrue(r.prompt().endsWith("\n\nAssistant: ") || r.prompt().equals("Assistant: "));
      assertTrue(r.prompt().contains("User: "), r.prompt());
      assertFalse(r.responses().get(0).isBlank());
    }
    assertTrue(rankings.get(0).prompt().contains("Angela"), rankings.get(0).prompt());
    assertEquals(300, Ranking.pairs(rankings).size());
  }
}
