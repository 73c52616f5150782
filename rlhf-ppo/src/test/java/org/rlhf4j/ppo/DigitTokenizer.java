package org.rlhf4j.ppo;

import org.rlhf4j.core.tokenizer.Tokenizer;

/** A 13-token test tokenizer: digits '0'..'9' are ids 0..9, then BOS 10, EOS 11, PAD 12. */
public final class DigitTokenizer implements Tokenizer {
  public static final int BOS = 10;
  public static final int EOS = 11;
  public static final int PAD = 12;

  @Override
  public int[] encode(String text) {
    int[] ids = new int[text.length()];
    for (int i = 0; i < ids.length; i++) {
      char c = text.charAt(i);
      if (c < '0' || c > '9') {
        throw new IllegalArgumentException("not a digit: " + c);
      }
      ids[i] = c - '0';
    }
    return ids;
  }

  @Override
  public String decode(int[] ids, boolean skipSpecialTokens) {
    StringBuilder sb = new StringBuilder();
    for (int id : ids) {
      if (id < 10) {
        sb.append((char) ('0' + id));
      } else if (!skipSpecialTokens) {
        sb.append(id == BOS ? "<s>" : id == EOS ? "</s>" : "<pad>");
      }
    }
    return sb.toString();
  }

  @Override
  public int vocabSize() {
    return 13;
  }

  @Override
  public int bosId() {
    return BOS;
  }

  @Override
  public int eosId() {
    return EOS;
  }

  @Override
  public int padId() {
    return PAD;
  }

  @Override
  public boolean isSpecial(int id) {
    return id >= 10;
  }

  @Override
  public String describe() {
    return "digits(13)";
  }
}
