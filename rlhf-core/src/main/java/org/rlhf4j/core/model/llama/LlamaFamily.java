package org.rlhf4j.core.model.llama;

import java.util.Map;
import org.rlhf4j.core.model.ModelFamily;
import org.rlhf4j.core.model.ModelOptions;

/**
 * The Llama family (Llama, Qwen2, Mistral) as a {@link ModelFamily}, so that its checkpoints load by
 * name through {@code ModelCheckpoint.loadAny}: configurations read by {@link LlamaConfig#fromMap}.
 */
public final class LlamaFamily implements ModelFamily {
  /** For {@link java.util.ServiceLoader}. */
  public LlamaFamily() {}

  @Override
  public String architecture() {
    return LlamaModel.ARCHITECTURE;
  }

  @Override
  public LlamaModel uninitialized(Map<String, ?> config, String source, ModelOptions options) {
    return LlamaModel.uninitialized(LlamaConfig.fromMap(config, source), options);
  }
}
