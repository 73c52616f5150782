package org.rlhf4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * README.md's code cannot drift: every {@code ```java} block appears (line by line, indentation
 * aside) in the compiled {@link ReadmeSnippets} or, for the Spark section, in rlhf-spark's compiled
 * {@code SparkReadmeSnippets} (this module does not see Spark), and the {@code ```xml} dependency block is the one
 * that {@code examples/embedding/pom.xml} builds with.
 */
class ReadmeSnippetsTest {
  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  /** The fenced blocks of {@code markdown} in {@code language}, each as its lines. */
  static List<List<String>> blocks(List<String> markdown, String language) {
    List<List<String>> out = new ArrayList<>();
    List<String> current = null;
    for (String line : markdown) {
      if (current == null && line.strip().equals("```" + language)) {
        current = new ArrayList<>();
      } else if (current != null && line.strip().equals("```")) {
        out.add(current);
        current = null;
      } else if (current != null) {
        current.add(line);
      }
    }
    return out;
  }

  /** Whether {@code block}'s lines (stripped, blank lines kept) occur consecutively in {@code source}. */
  static boolean containsVerbatim(List<String> source, List<String> block) {
    List<String> s = source.stream().map(String::strip).toList();
    List<String> b = block.stream().map(String::strip).toList();
    for (int i = 0; i + b.size() <= s.size(); i++) {
      if (s.subList(i, i + b.size()).equals(b)) {
        return true;
      }
    }
    return false;
  }

  private static List<String> read(String path) throws IOException {
    return Files.readAllLines(ROOT.resolve(path), StandardCharsets.UTF_8);
  }

  @Test
  void everyJavaSnippetOfTheReadmeIsCompiled() throws IOException {
    List<String> source = new ArrayList<>(read("rlhf-examples/src/test/java/org/rlhf4j/examples/ReadmeSnippets.java"));
    source.add("");
    source.addAll(read("rlhf-spark/src/test/java/org/rlhf4j/spark/SparkReadmeSnippets.java"));
    List<List<String>> java = blocks(read("README.md"), "java");
    assertEquals(12, java.size(), "README's Java snippets (add new ones to ReadmeSnippets.java and raise this count)");
    for (List<String> block : java) {
      assertTrue(containsVerbatim(source, block), "README snippet not in ReadmeSnippets.java (update one or the other):\n"
          + String.join("\n", block));
    }
  }

  @Test
  void theReadmeDependencyBlockIsTheEmbeddingExamplesOwn() throws IOException {
    List<String> pom = read("examples/embedding/pom.xml");
    List<List<String>> xml = blocks(read("README.md"), "xml");
    assertFalse(xml.isEmpty(), "README has a dependency block");
    for (List<String> block : xml) {
      assertTrue(containsVerbatim(pom, block), "README dependency block not in examples/embedding/pom.xml:\n" + String.join("\n", block));
    }
  }

  @Test
  void theCheckCatchesADriftedLine() {
    List<String> source = List.of("  int a = 1;", "", "  int b = 2;");
    assertTrue(containsVerbatim(source, List.of("int a = 1;", "", "int b = 2;")));
    assertFalse(containsVerbatim(source, List.of("int a = 1;", "int b = 2;")));
    assertFalse(containsVerbatim(source, List.of("int a = 1;", "", "int b = 3;")));
    assertEquals(List.of(List.of("x", "y")), blocks(List.of("text", "```java", "x", "y", "```", "```xml"), "java"));
  }
}
