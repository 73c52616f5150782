package org.rlhf4j.core.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.rlhf4j.core.RlhfException;

/**
 * Locates the project's shared data folder ({@code shared/data}, kept beside the checkout and never
 * copied into it). The folder is, in order: the system property {@code rlhf4j.data}, the environment
 * variable {@code RLHF4J_DATA}, or the first {@code shared/data} found in the working directory or one
 * of its parents.
 */
public final class SharedData {
  private SharedData() {}

  /** The shared data folder, if one can be found. */
  public static Optional<Path> root() {
    String prop = System.getProperty("rlhf4j.data");
    if (prop != null && !prop.isBlank()) {
      return Optional.of(Path.of(prop)).filter(Files::isDirectory);
    }
    String env = System.getenv("RLHF4J_DATA");
    if (env != null && !env.isBlank()) {
      return Optional.of(Path.of(env)).filter(Files::isDirectory);
    }
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      Path candidate = dir.resolve("shared").resolve("data");
      if (Files.isDirectory(candidate)) {
        return Optional.of(candidate);
      }
    }
    return Optional.empty();
  }

  /** The file {@code relative} (e.g. {@code corpus/tinyshakespeare.txt}) in the shared folder, if present. */
  public static Optional<Path> find(String relative) {
    return root().map(r -> r.resolve(relative)).filter(Files::isRegularFile);
  }

  /**
   * The file {@code relative}, or an error saying which file is needed and where to put it.
   *
   * @throws org.rlhf4j.core.RlhfException if the file is absent
   */
  public static Path require(String relative) {
    return find(relative)
        .orElseThrow(
            () ->
                new RlhfException(
                    "missing data file "
                        + relative
                        + ": put the project's shared data folder at ../shared/data beside the"
                        + " checkout (so that ../shared/data/"
                        + relative
                        + " exists), or point -Drlhf4j.data or RLHF4J_DATA at it"));
  }
}
