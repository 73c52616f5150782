package org.rlhf4j.reward.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.data.DataFormatException;

/** Broken preference and TSV files fail with the file and line. */
class HostilePreferenceFilesTest {
  @TempDir Path dir;

  @Test
  void identicalChosenAndRejectedIsRefusedWithTheLine() throws IOException {
    Path f = dir.resolve("prefs.jsonl");
    Files.writeString(
        f,
        "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n"
            + "{\"prompt\": \"p\", \"chosen\": \"same\", \"rejected\": \"same\"}\n");
    DataFormatException e = assertThrows(DataFormatException.class, () -> PreferenceDatasets.read(f));
    assertTrue(e.getMessage().startsWith("prefs.jsonl:2: \"chosen\" and \"rejected\" are identical"), e.getMessage());
    Path k = dir.resolve("ranked.jsonl");
    Files.writeString(k, "{\"prompt\": \"p\", \"responses\": [\"x\", \"y\", \"x\"], \"ranking\": [0, 1, 2]}\n");
    DataFormatException r = assertThrows(DataFormatException.class, () -> PreferenceDatasets.read(k));
    assertTrue(r.getMessage().startsWith("ranked.jsonl:1: responses 0 and 2 are identical"), r.getMessage());
  }

  @Test
  void invalidUtf8AndEmptyFilesNameTheFile() throws IOException {
    Path f = dir.resolve("prefs.jsonl");
    Files.write(f, "{\"prompt\": \"p\", \"chosen\": \"\u00e9\", \"rejected\": \"b\"}\n".getBytes(StandardCharsets.ISO_8859_1));
    DataFormatException e = assertThrows(DataFormatException.class, () -> PreferenceDatasets.read(f));
    assertTrue(e.getMessage().startsWith("prefs.jsonl:1: invalid UTF-8 at byte offset 27"), e.getMessage());
    Files.writeString(f, "\n");
    DataFormatException empty = assertThrows(DataFormatException.class, () -> PreferenceDatasets.read(f));
    assertTrue(empty.getMessage().startsWith("prefs.jsonl:0: no records"), empty.getMessage());

    Path tsv = dir.resolve("rated.tsv");
    Files.write(tsv, "id\tmean\tsentence\n1\t1.0\tgood\n2\t-1.0\tcaf\u00e9\n".getBytes(StandardCharsets.ISO_8859_1));
    DataFormatException t = assertThrows(DataFormatException.class, () -> RatedTexts.read(tsv));
    assertTrue(t.getMessage().startsWith("rated.tsv:3: invalid UTF-8"), t.getMessage());
    Files.writeString(tsv, "id\tmean\tsentence\n");
    DataFormatException te = assertThrows(DataFormatException.class, () -> RatedTexts.read(tsv));
    assertTrue(te.getMessage().startsWith("rated.tsv:0: no records"), te.getMessage());
    Files.writeString(tsv, "1\t1.0\tgood\n");
    assertEquals(1, RatedTexts.read(tsv).size());
  }
}
