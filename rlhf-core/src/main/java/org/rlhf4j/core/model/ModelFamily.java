package org.rlhf4j.core.model;

import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * How to build a model of one architecture from its configuration map (what a checkpoint stores
 * under {@code "model"}, {@link CausalLm#configMap()}), so that checkpoints of any family can be
 * loaded by name ({@code org.rlhf4j.core.io.ModelCheckpoint#loadAny}). GPT-2 is built in; another
 * family registers an implementation (public, with a public no-argument constructor) in {@code
 * META-INF/services/org.rlhf4j.core.model.ModelFamily}.
 */
public interface ModelFamily {
  /** The name written to checkpoints, equal to the models' {@link CausalLm#architecture()}. */
  String architecture();

  /**
   * A model of configuration {@code config} whose parameters are all zero, to be filled by a loader.
   *
   * @param source names the origin of {@code config} in error messages (a file name)
   * @throws IllegalArgumentException or {@link org.rlhf4j.core.RlhfException} naming {@code source}
   *     and the field if {@code config} is invalid
   */
  CausalLm uninitialized(Map<String, ?> config, String source, ModelOptions options);

  /** The registered family called {@code architecture}, if any (looked up with {@link ServiceLoader}). */
  static Optional<ModelFamily> find(String architecture) {
    for (ModelFamily f : ServiceLoader.load(ModelFamily.class)) {
      if (f.architecture().equals(architecture)) {
        return Optional.of(f);
      }
    }
    return Optional.empty();
  }
}
