package org.rlhf4j.reward.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.data.ChatFormat;
import org.rlhf4j.core.data.DataReadException;

/** The reward data readers fail on an unreadable file with an unchecked error naming it. */
class PreferenceReadFailuresTest {
  @TempDir Path dir;

  private static void assertMissing(Path file, Executable read) {
    DataReadException e = assertThrows(DataReadException.class, read);
    assertEquals(file.toString(), e.source());
    assertEquals("cannot read " + file + ": no such file", e.getMessage());
    assertInstanceOf(NoSuchFileException.class, e.getCause());
  }

  @Test
  void aMissingFileIsADataReadExceptionNamingIt() {
    Path missing = dir.resolve("prefs.json");
    assertMissing(missing, () -> PreferenceDatasets.read(missing));
    assertMissing(missing, () -> ShareGpt.read(missing, ChatFormat.plain()));
    Path tsv = dir.resolve("ratings.tsv");
    assertMissing(tsv, () -> RatedTexts.read(tsv));
  }
}
