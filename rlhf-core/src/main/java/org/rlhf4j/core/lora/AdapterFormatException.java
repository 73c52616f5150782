package org.rlhf4j.core.lora;

import org.rlhf4j.core.RlhfException;

/**
 * A LoRA adapter file ({@code adapter_config.json} or {@code adapter_model.safetensors}) that cannot
 * be used: malformed, inconsistent with its configuration or with the model, or asking for a PEFT
 * feature rlhf4j does not support. The message names the file and the field or tensor key.
 */
public class AdapterFormatException extends RlhfException {
  private static final long serialVersionUID = 1L;

  /** An error about {@code file} (the message should name the field or key). */
  public AdapterFormatException(String file, String problem) {
    super(file + ": " + problem);
  }

  /** An error about {@code file} with its cause. */
  public AdapterFormatException(String file, String problem, Throwable cause) {
    super(file + ": " + problem, cause);
  }
}
