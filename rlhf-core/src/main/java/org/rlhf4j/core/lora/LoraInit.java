package org.rlhf4j.core.lora;

/**
 * How new adapter matrices are initialised, as PEFT's {@code init_lora_weights} (seeded here, so
 * the same seed gives the same adapter).
 */
public enum LoraInit {
  /**
   * PEFT's default ({@code init_lora_weights: true}): A Kaiming-uniform with {@code a = sqrt(5)},
   * i.e. uniform in {@code ±1/sqrt(in)}, and B zero, so a new adapter leaves the model unchanged.
   */
  DEFAULT,
  /** {@code init_lora_weights: "gaussian"}: A normal with standard deviation {@code 1/r}, B zero. */
  GAUSSIAN,
  /**
   * {@code init_lora_weights: false}: both A and B as {@code torch.nn.Linear}'s default (uniform in
   * {@code ±1/sqrt(fan_in)}), so a new adapter changes the model at once; for tests.
   */
  RANDOM
}
