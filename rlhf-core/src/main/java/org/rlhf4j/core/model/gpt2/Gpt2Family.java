package org.rlhf4j.core.model.gpt2;

import java.util.Map;
import org.rlhf4j.core.model.ModelFamily;
import org.rlhf4j.core.model.ModelOptions;

/** GPT-2 as a {@link ModelFamily}: configurations read by {@link GptConfig#fromMap}. */
public final class Gpt2Family implements ModelFamily {
  /** For {@link java.util.ServiceLoader}. */
  public Gpt2Family() {}

  @Override
  public String architecture() {
    return GptModel.ARCHITECTURE;
  }

  @Override
  public GptModel uninitialized(Map<String, ?> config, String source, ModelOptions options) {
    return GptModel.uninitialized(GptConfig.fromMap(config, source), options);
  }
}
