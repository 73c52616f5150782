package org.rlhf4j.reward.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.rlhf4j.core.data.ChatFormat;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.reward.data.PreferenceDatasets.Format;

class PreferenceDatasetsReaderTest {
  @TempDir Path dir;

  private Path write(String name, String... lines) throws IOException {
    Path file = dir.resolve(name);
    Files.writeString(file, String.join("\n", lines) + "\n");
    return file;
  }

  private static String msg(String role, String content) {
    return "{\"role\": \"" + role + "\", \"content\": \"" + content + "\"}";
  }

  @Test
  void readsExplicitPromptPairsAsStringsAndConversations() throws IOException {
    Path file =
        write(
            "pairs.jsonl",
            "{\"prompt\": \"2+2=\", \"chosen\": \"4\", \"rejected\": \"5\"}",
            "",
            "{\"prompt\": [" + msg("user", "Hi") + "], \"chosen\": [" + msg("assistant", "Hello!")
                + "], \"rejected\": [" + msg("assistant", "Go away.") + "]}");
    List<Ranking> rankings = PreferenceDatasets.read(file);
    assertEquals(
        List.of(
            Ranking.pairwise("x", 0, "2+2=", "4", "5"),
            Ranking.pairwise("x", 0, "User: Hi\n\nAssistant: ", "Hello!", "Go away.")),
        rankings);
    assertEquals(3, rankings.get(1).line());
    assertEquals("pairs.jsonl", rankings.get(1).source());
  }

  @Test
  void readsImplicitPromptPairs() throws IOException {
    Path file =
        write(
            "implicit.jsonl",
            "{\"chosen\": \"The sky is blue.\", \"rejected\": \"The sky is green.\"}",
            "{\"chosen\": [" + msg("system", "Be brief.") + ", " + msg("user", "Hi") + ", "
                + msg("assistant", "Hello.") + "], \"rejected\": [" + msg("system", "Be brief.")
                + ", " + msg("user", "Hi") + ", " + msg("assistant", "What?") + "]}");
    assertEquals(
        List.of(
            Ranking.pairwise("x", 0, "The sky is", " blue.", " green."),
            Ranking.pairwise(
                "x", 0, "System: Be brief.\n\nUser: Hi\n\nAssistant: ", "Hello.", "What?")),
        PreferenceDatasets.read(file));
  }

  @Test
  void readsKWayRankingsWithLabeller() throws IOException {
    Path file =
        write(
            "ranked.jsonl",
            "{\"prompt\": \"Name a colour\", \"responses\": [\"blue\", \"seven\", \"red\"],"
                + " \"ranking\": [2, 0, 1], \"labeller\": \"L3\"}",
            "{\"prompt\": \"p\", \"responses\": [\"a\", \"b\"], \"ranking\": [1, 0]}");
    List<Ranking> rankings = PreferenceDatasets.read(file);
    assertEquals(
        Ranking.of("x", 0, "Name a colour", List.of("blue", "seven", "red"), List.of(2, 0, 1))
            .withLabeller("L3"),
        rankings.get(0));
    assertEquals(List.of("red", "blue", "seven"), rankings.get(0).ranked());
    assertEquals(List.of("b", "a"), rankings.get(1).ranked());
    assertEquals(4, Ranking.pairs(rankings).size());
  }

  @Test
  void detectsFormatsPerLineAndReadsJsonArrays() throws IOException {
    Path lines =
        write(
            "mixed.jsonl",
            "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}",
            "{\"chosen\": \"x y\", \"rejected\": \"x z\"}",
            "{\"prompt\": \"p\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [0, 1, 2]}");
    assertEquals(List.of(2, 2, 3), PreferenceDatasets.read(lines).stream().map(Ranking::k).toList());
    Path array =
        write(
            "mixed.json",
            "[",
            "  {\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"},",
            "  {\"conversations\": [{\"from\": \"human\", \"value\": \"Hi\"}],",
            "   \"chosen\": {\"from\": \"gpt\", \"value\": \"Hello\"},",
            "   \"rejected\": {\"from\": \"gpt\", \"value\": \"Bye\"}}",
            "]");
    List<Ranking> rankings = PreferenceDatasets.read(array);
    assertEquals(
        List.of(
            Ranking.pairwise("x", 0, "p", "a", "b"),
            Ranking.pairwise("x", 0, "User: Hi\n\nAssistant: ", "Hello", "Bye")),
        rankings);
    assertEquals(3, rankings.get(1).line());
  }

  @Test
  void forcedFormatRequiresItsFields() throws IOException {
    Path file = write("forced.jsonl", "{\"chosen\": \"x a\", \"rejected\": \"x b\"}");
    DataFormatException e =
        assertThrows(
            DataFormatException.class,
            () -> PreferenceDatasets.read(file, Format.PAIRWISE, ChatFormat.plain()));
    assertTrue(e.getMessage().contains("forced.jsonl:1: missing field \"prompt\""), e.getMessage());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '`',
      value = {
        "chosen not a string|{\"prompt\": \"p\", \"chosen\": 42, \"rejected\": \"b\"}|field \"chosen\": expected a string, got 42",
        "empty rejected|{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"\"}|field \"rejected\": must not be empty",
        "missing rejected|{\"prompt\": \"p\", \"chosen\": \"a\"}|missing field \"rejected\"",
        "invalid JSON|{\"prompt\": \"p\", |invalid JSON",
        "unknown fields|{\"question\": \"q\"}|unknown preference record",
        "bad prompt role|{\"prompt\": [{\"role\": \"robot\", \"content\": \"x\"}], \"chosen\": \"a\", \"rejected\": \"b\"}|field \"prompt[0].role\": unknown role \"robot\"",
        "chosen list from user|{\"prompt\": \"p\", \"chosen\": [{\"role\": \"user\", \"content\": \"a\"}], \"rejected\": \"b\"}|field \"chosen\": expected a list holding one assistant message",
        "implicit mixed types|{\"chosen\": \"a b\", \"rejected\": [{\"role\": \"assistant\", \"content\": \"b\"}]}|field \"rejected\": expected a string like \"chosen\"",
        "implicit no assistant|{\"chosen\": [{\"role\": \"user\", \"content\": \"a\"}], \"rejected\": [{\"role\": \"user\", \"content\": \"b\"}]}|field \"chosen\": must end with an assistant message",
        "implicit prompts differ|{\"chosen\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"x\"}], \"rejected\": [{\"role\": \"user\", \"content\": \"b\"}, {\"role\": \"assistant\", \"content\": \"y\"}]}|field \"rejected\": differs from \"chosen\" at message 0",
        "implicit empty remainder|{\"chosen\": \"x \", \"rejected\": \"x y\"}|field \"chosen\": must not be empty",
        "ranking out of range|{\"prompt\": \"p\", \"responses\": [\"a\", \"b\"], \"ranking\": [0, 2]}|field \"ranking\": index 2 is out of range",
        "ranking duplicate|{\"prompt\": \"p\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [0, 0, 1]}|field \"ranking\": index 0 appears more than once",
        "ranking missing index|{\"prompt\": \"p\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [2, 0]}|field \"ranking\": index 1 is missing",
        "ranking not an int|{\"prompt\": \"p\", \"responses\": [\"a\", \"b\"], \"ranking\": [0, \"1\"]}|field \"ranking[1]\": expected an integer response index, got \"1\"",
        "K = 1|{\"prompt\": \"p\", \"responses\": [\"a\"], \"ranking\": [0]}|field \"responses\": a ranking needs at least 2 responses, got 1",
        "blank response|{\"prompt\": \"p\", \"responses\": [\"a\", \" \"], \"ranking\": [0, 1]}|field \"responses[1]\": must not be empty",
        "response not a string|{\"prompt\": \"p\", \"responses\": [\"a\", 3], \"ranking\": [0, 1]}|field \"responses[1]\": expected a string, got 3",
        "missing ranking|{\"prompt\": \"p\", \"responses\": [\"a\", \"b\"]}|missing field \"ranking\"",
      })
  void malformedLineNamesFileLineAndField(String what, String badLine, String expected)
      throws IOException {
    Path file =
        write(
            "prefs.jsonl",
            "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}",
            "",
            "{\"prompt\": \"p\", \"responses\": [\"a\", \"b\"], \"ranking\": [1, 0]}",
            badLine);
    DataFormatException e =
        assertThrows(DataFormatException.class, () -> PreferenceDatasets.read(file));
    assertEquals("prefs.jsonl", e.source());
    assertEquals(4, e.line());
    assertTrue(e.getMessage().startsWith("prefs.jsonl:4: "), e.getMessage());
    assertTrue(e.getMessage().contains(expected), what + ": " + e.getMessage());
  }
}
