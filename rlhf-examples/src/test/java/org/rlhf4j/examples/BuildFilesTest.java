package org.rlhf4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The BOM and the embedding example name the version the reactor builds (they cannot inherit it). */
class BuildFilesTest {
  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  private static String read(String path) throws IOException {
    return Files.readString(ROOT.resolve(path), StandardCharsets.UTF_8);
  }

  /** The first {@code <tag>value</tag>} after {@code after} in {@code xml}. */
  private static String first(String xml, String after, String tag) {
    Matcher m = Pattern.compile("<" + tag + ">([^<]*)</" + tag + ">").matcher(xml);
    assertTrue(m.find(xml.indexOf(after)), tag + " after " + after);
    return m.group(1);
  }

  @Test
  void versionsAgree() throws IOException {
    String parent = first(read("pom.xml"), "<artifactId>rlhf4j-parent</artifactId>", "version");
    String bom = read("rlhf4j-bom/pom.xml");
    assertEquals(parent, first(bom, "<artifactId>rlhf4j-bom</artifactId>", "version"), "rlhf4j-bom's version");
    assertEquals(parent, first(bom, "<properties>", "rlhf4j.version"), "rlhf4j-bom's rlhf4j.version");
    assertEquals(first(read("pom.xml"), "<properties>", "nd4j.version"), first(bom, "<properties>", "nd4j.version"));
    assertEquals(first(read("pom.xml"), "<properties>", "slf4j.version"), first(bom, "<properties>", "slf4j.version"));
    String app = read("examples/embedding/pom.xml");
    assertEquals(parent, first(app, "<artifactId>rlhf4j-bom</artifactId>", "version"), "the embedding example's BOM version");
  }
}
