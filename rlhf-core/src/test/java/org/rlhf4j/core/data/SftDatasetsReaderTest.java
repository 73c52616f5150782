package org.rlhf4j.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.rlhf4j.core.data.SftDatasets.Format;

class SftDatasetsReaderTest {
  @TempDir Path dir;

  private Path write(String name, String... lines) throws IOException {
    Path file = dir.resolve(name);
    Files.writeString(file, String.join("\n", lines) + "\n", StandardCharsets.UTF_8);
    return file;
  }

  @Test
  void readsAllThreeFormatsDetectedPerLine() throws IOException {
    Path file =
        write(
            "train.jsonl",
            "{\"prompt\": \"Q: 1+1?\\nA:\", \"completion\": \" 2\"}",
            "",
            "{\"text\": \"Once upon a time.\", \"source\": \"ignored\"}",
            "   ",
            "{\"messages\": [{\"role\": \"system\", \"content\": \"Be kind.\"},"
                + " {\"role\": \"user\", \"content\": \"Hi\"},"
                + " {\"role\": \"assistant\", \"content\": \"Hello!\"}]}",
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"Hey\"}],"
                + " \"completion\": [{\"role\": \"assistant\", \"content\": \"Yo\"}]}");
    List<SftExample> examples = SftDatasets.read(file);
    assertEquals(
        List.of(
            new SftExample("Q: 1+1?\nA:", " 2"),
            new SftExample("", "Once upon a time."),
            new SftExample("System: Be kind.\n\nUser: Hi\n\nAssistant: ", "Hello!"),
            new SftExample("User: Hey\n\nAssistant: ", "Yo")),
        examples);
  }

  @Test
  void forcedFormatIgnoresOtherFields() throws IOException {
    Path file = write("mixed.jsonl", "{\"text\": \"plain\", \"prompt\": \"p\", \"completion\": \"c\"}");
    assertEquals(
        List.of(SftExample.ofText("plain")),
        SftDatasets.read(file, Format.TEXT, ChatFormat.plain()));
    assertEquals(List.of(new SftExample("p", "c")), SftDatasets.read(file));
    DataFormatException e =
        assertThrows(
            DataFormatException.class,
            () -> SftDatasets.read(file, Format.MESSAGES, ChatFormat.plain()));
    assertTrue(e.getMessage().contains("mixed.jsonl:1: missing field \"messages\""), e.getMessage());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '`',
      value = {
        "wrong type|{\"prompt\": \"p\", \"completion\": 42}|field \"completion\": expected a string, got 42",
        "missing completion|{\"prompt\": \"p\"}|missing field \"completion\"",
        "missing prompt|{\"completion\": \"c\"}|missing field \"prompt\"",
        "empty completion|{\"prompt\": \"p\", \"completion\": \"  \"}|field \"completion\": must not be empty",
        "null prompt|{\"prompt\": null, \"completion\": \"c\"}|field \"prompt\": expected a string, got null",
        "invalid JSON|{\"prompt\": \"p\", \"completion\": |invalid JSON",
        "trailing content|{\"text\": \"a\"} {\"text\": \"b\"}|invalid JSON",
        "duplicate key|{\"text\": \"a\", \"text\": \"b\"}|invalid JSON: Duplicate field 'text'",
        "not an object|[1, 2]|expected a JSON object, got an array [1,2]",
        "no known field|{\"question\": \"q\"}|unknown record format",
        "self-instruct record|{\"id\": \"x\", \"instruction\": \"i\", \"instances\": []}|self-instruct format: read it with SelfInstruct.read",
        "empty text|{\"text\": \"\"}|field \"text\": must not be empty",
        "unknown role|{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}|field \"messages[0].role\": unknown role \"bot\"",
        "missing content|{\"messages\": [{\"role\": \"user\"}]}|field \"messages[0].content\": missing",
        "message not an object|{\"messages\": [\"hi\"]}|field \"messages[0]\": expected a message object",
        "no assistant turn|{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}|field \"messages\": the conversation has no assistant message",
        "empty messages|{\"messages\": []}|field \"messages\": must not be an empty array",
        "empty final turn|{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"\"}]}|field \"messages\": the final assistant message (message 1) is empty",
        "user completion|{\"prompt\": \"p\", \"completion\": [{\"role\": \"user\", \"content\": \"c\"}]}|field \"completion\": expected a list holding one assistant message",
      })
  void malformedLineNamesFileLineAndField(String what, String badLine, String expected)
      throws IOException {
    Path file =
        write("train.jsonl", "{\"text\": \"fine\"}", "", "{\"prompt\": \"a\", \"completion\": \"b\"}", badLine);
    DataFormatException e = assertThrows(DataFormatException.class, () -> SftDatasets.read(file));
    assertEquals("train.jsonl", e.source());
    assertEquals(4, e.line());
    assertTrue(e.getMessage().startsWith("train.jsonl:4: "), e.getMessage());
    assertTrue(e.getMessage().contains(expected), what + ": " + e.getMessage());
  }
}
