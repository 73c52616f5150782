package org.rlhf4j.core.io;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableMap;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import org.rlhf4j.core.Rlhf4j;

/**
 * Where a checkpoint came from: the trainer, its configuration and seed, the checkpoint it started
 * from, and the library version that wrote it. Immutable.
 *
 * @param trainer e.g. {@code sft}, {@code reward}, {@code ppo}, {@code random-init}, {@code import}
 * @param seed the seed the trainer ran with
 * @param config the trainer's configuration (JSON-friendly values)
 * @param parent the checkpoint this one was trained from ("" if none)
 * @param libraryVersion the rlhf4j version that wrote the checkpoint
 * @param created when the checkpoint was written (ISO-8601)
 */
public record Provenance(String trainer, long seed, ImmutableMap<String, Object> config, String parent, String libraryVersion, String created) {
  public Provenance {
    checkArgument(trainer != null && !trainer.isBlank(), "trainer must be named");
  }

  /** Provenance stamped with this library's version and the current time. */
  public static Provenance of(String trainer, long seed, Map<String, ?> config, String parent) {
    return new Provenance(trainer, seed, ImmutableMap.copyOf(config), parent == null ? "" : parent, Rlhf4j.VERSION, Instant.now().toString());
  }

  /** A JSON-friendly map. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("trainer", trainer);
    m.put("seed", seed);
    m.put("config", config);
    m.put("parent", parent);
    m.put("library_version", libraryVersion);
    m.put("created", created);
    return m;
  }

  /** Reads {@link #toMap()}'s output; {@code source} names the file in errors. */
  @SuppressWarnings("unchecked")
  static Provenance fromMap(Map<String, ?> m, String source) {
    Object trainer = m.get("trainer");
    Object seed = m.get("seed");
    Object config = m.get("config");
    if (!(trainer instanceof String)) {
      throw new CheckpointException(source + ": field \"provenance.trainer\": expected a string, got " + trainer);
    }
    if (!(seed instanceof Number)) {
      throw new CheckpointException(source + ": field \"provenance.seed\": expected an integer, got " + seed);
    }
    if (config != null && !(config instanceof Map)) {
      throw new CheckpointException(source + ": field \"provenance.config\": expected an object, got " + config);
    }
    return new Provenance(
        (String) trainer,
        ((Number) seed).longValue(),
        config == null ? ImmutableMap.of() : ImmutableMap.copyOf((Map<String, Object>) config),
        String.valueOf(m.containsKey("parent") ? m.get("parent") : ""),
        String.valueOf(m.containsKey("library_version") ? m.get("library_version") : "unknown"),
        String.valueOf(m.containsKey("created") ? m.get("created") : ""));
  }
}
