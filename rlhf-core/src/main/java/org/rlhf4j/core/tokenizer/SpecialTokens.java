package org.rlhf4j.core.tokenizer;

/**
 * What {@link Gpt2BpeTokenizer#encode(String, SpecialTokens)} does with the text of a special token
 * (e.g. {@code <|endoftext|>}) found inside the text; like tiktoken's {@code allowed_special}.
 */
public enum SpecialTokens {
  /**
   * Encode it as ordinary text (several ids), never as the special id: the safe default for text
   * from users or data files, which then cannot end a sequence or forge a turn early.
   */
  LITERAL,
  /**
   * Map each occurrence to its special id, as transformers' tokenizers do by default. Use only for
   * trusted text such as prompt templates.
   */
  ALLOW
}
