package org.rlhf4j.core.seam;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Map;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ModelFamily;
import org.rlhf4j.core.model.ModelOptions;

/** {@link BigramLm} as a {@link ModelFamily}, registered in the test resources' services file. */
public final class BigramFamily implements ModelFamily {
  /** For {@link java.util.ServiceLoader}. */
  public BigramFamily() {}

  @Override
  public String architecture() {
    return "bigram";
  }

  @Override
  public CausalLm uninitialized(Map<String, ?> config, String source, ModelOptions options) {
    checkArgument(config.get("vocab_size") instanceof Integer, "%s: field vocab_size must be an integer", source);
    checkArgument(config.get("n_positions") instanceof Integer, "%s: field n_positions must be an integer", source);
    BigramLm m =
        new BigramLm((Integer) config.get("vocab_size"), (Integer) config.get("n_positions"), Boolean.TRUE.equals(config.get("scalar_head")), options, 0);
    m.parameters().zero();
    return m;
  }
}
