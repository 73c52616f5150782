package org.rlhf4j.core;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The package structure of rlhf-core, read from the main sources: which packages each package
 * names (imports and qualified names in code, comments ignored). Guards the fixed folder cycle
 * tokenizer → io → tokenizer: the tokenizer saves through the leaf package {@code fs}, and neither
 * reaches {@code io}.
 */
class PackageDependenciesTest {
  private static final Path ROOT = Path.of("src/main/java/org/rlhf4j/core");
  private static final Pattern REF = Pattern.compile("org\\.rlhf4j\\.core\\.([a-z0-9_.]+?)\\.[A-Z]");

  static Map<String, Set<String>> dependencies() throws IOException {
    Map<String, Set<String>> deps = new HashMap<>();
    try (Stream<Path> files = Files.walk(ROOT)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        String pkg = ROOT.relativize(f.getParent()).toString().replace('/', '.');
        String code = Files.readString(f)
            .replaceAll("(?s)/\\*.*?\\*/", "") // block and Javadoc comments
            .replaceAll("//[^\\n]*", "");
        Matcher m = REF.matcher(code);
        while (m.find()) {
          if (!m.group(1).equals(pkg)) {
            deps.computeIfAbsent(pkg, k -> new TreeSet<>()).add(m.group(1));
          }
        }
      }
    }
    return deps;
  }

  static Set<String> reachable(Map<String, Set<String>> deps, String from) {
    Set<String> seen = new TreeSet<>();
    Deque<String> todo = new ArrayDeque<>(deps.getOrDefault(from, Set.of()));
    while (!todo.isEmpty()) {
      String p = todo.pop();
      if (seen.add(p)) {
        todo.addAll(deps.getOrDefault(p, Set.of()));
      }
    }
    return seen;
  }

  @Test
  void theTokenizerDoesNotDependOnIoWhichDependsOnIt() throws IOException {
    Map<String, Set<String>> deps = dependencies();
    assertTrue(deps.get("io").contains("tokenizer"), "io saves tokenizers with checkpoints: " + deps.get("io"));
    assertFalse(reachable(deps, "tokenizer").contains("io"), "tokenizer reaches " + reachable(deps, "tokenizer"));
    assertTrue(deps.get("tokenizer").contains("fs"), "the tokenizer writes atomically through fs: " + deps.get("tokenizer"));
    assertTrue(reachable(deps, "fs").isEmpty(), "fs is a leaf: " + reachable(deps, "fs"));
  }
}
