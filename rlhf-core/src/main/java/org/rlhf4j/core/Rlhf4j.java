package org.rlhf4j.core;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/** Facts about this build of the library, recorded in every checkpoint for provenance. */
public final class Rlhf4j {
  /** The library version, e.g. {@code 0.1.0-SNAPSHOT}. */
  public static final String VERSION = readVersion();

  private Rlhf4j() {}

  private static String readVersion() {
    try (InputStream in = Rlhf4j.class.getResourceAsStream("version.properties")) {
      if (in == null) {
        return "unknown";
      }
      Properties p = new Properties();
      p.load(in);
      return p.getProperty("version", "unknown");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
