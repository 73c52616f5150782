package org.rlhf4j.reward.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.testing.TestData;

class RatedTextsReaderTest {
  @TempDir Path dir;

  @Test
  void readsTabSeparatedRowsWithCrlfHeaderAndBlankLines() throws IOException {
    Path file = dir.resolve("ratings.tsv");
    Files.writeString(
        file, "id\tmean rating\tsentence\r\n1\t2.25\tA fine film.\r\n\r\n7\t-3.5\tAwful, truly.");
    assertEquals(
        List.of(new RatedText("1", 2.25, "A fine film."), new RatedText("7", -3.5, "Awful, truly.")),
        RatedTexts.read(file));
  }

  @Test
  void malformedLinesNameFileLineAndField() throws IOException {
    String[][] cases = {
      {"3\t1.0", "expected 3 tab-separated fields (id, mean rating, sentence), got 2"},
      {"3\t1.0\tok\textra", "got 4"},
      {"3\thigh\tok", "field \"mean rating\": expected a number, got \"high\""},
      {"3\t4.5\tok", "field \"mean rating\": 4.5 is outside the scale -4.0 .. 4.0"},
      {"3\tNaN\tok", "field \"mean rating\": NaN is outside"},
      {" \t1.0\tok", "field \"id\": must not be empty"},
      {"3\t1.0\t  ", "field \"sentence\": must not be empty"},
      {"1\t1.0\tagain", "field \"id\": duplicate id \"1\" (first on line 1)"},
    };
    for (String[] c : cases) {
      Path file = dir.resolve("bad.tsv");
      Files.writeString(file, "1\t0.5\tfirst\n2\t-0.5\tsecond\n" + c[0] + "\n");
      DataFormatException e = assertThrows(DataFormatException.class, () -> RatedTexts.read(file));
      assertEquals(3, e.line());
      assertTrue(e.getMessage().startsWith("bad.tsv:3: "), e.getMessage());
      assertTrue(e.getMessage().contains(c[1]), e.getMessage());
    }
  }

  @Test
  void splitIsDeterministicDisjointAndKeepsDuplicateSentencesTogether() {
    List<RatedText> texts = new java.util.ArrayList<>();
    for (int i = 0; i < 2000; i++) {
      texts.add(new RatedText("t" + i, (i % 17) / 2.0 - 4, "sentence " + i));
    }
    texts.add(new RatedText("dup-a", 1.0, "the same words"));
    texts.add(new RatedText("dup-b", -1.0, "the same words "));
    RatedTexts.Split split = RatedTexts.split(texts, 0.2, 11);
    assertEquals(split, RatedTexts.split(texts, 0.2, 11));
    assertEquals(texts.size(), split.train().size() + split.heldOut().size());
    Set<String> heldIds = new HashSet<>();
    split.heldOut().forEach(t -> heldIds.add(t.id()));
    assertTrue(split.train().stream().noneMatch(t -> heldIds.contains(t.id())));
    double fraction = split.heldOut().size() / (double) texts.size();
    assertTrue(fraction > 0.15 && fraction < 0.25, "held-out fraction " + fraction);
    assertEquals(heldIds.contains("dup-a"), heldIds.contains("dup-b"));
    // A text's side depends only on its id and the seed: shuffling or dropping others keeps it.
    List<RatedText> reversed = new java.util.ArrayList<>(texts.subList(0, 1000));
    java.util.Collections.reverse(reversed);
    RatedTexts.split(reversed, 0.2, 11)
        .heldOut()
        .forEach(t -> assertTrue(heldIds.contains(t.id()), t.id()));
    RatedTexts.Split other = RatedTexts.split(texts, 0.2, 12);
    assertTrue(!other.heldOut().equals(split.heldOut()), "another seed gives another split");
  }

  @Test
  void sharedMovieReviewSnippetsLoadCompletely() throws IOException {
    Path file = TestData.require("sentiment/movie-review-snippets.tsv");
    List<RatedText> texts = RatedTexts.read(file);
    assertEquals(10_605, texts.size());
    assertEquals("1", texts.get(0).id());
    assertEquals(2.26666666667, texts.get(0).rating(), 1e-12);
    assertTrue(texts.get(0).text().startsWith("The Rock is destined"), texts.get(0).text());
    assertEquals("10605", texts.get(10_604).id());
    assertTrue(texts.stream().allMatch(t -> t.rating() >= -4 && t.rating() <= 4));
    assertTrue(texts.stream().noneMatch(t -> t.text().contains("\r")));
  }
}
