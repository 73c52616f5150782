package org.rlhf4j.reward.dpo;

import static com.google.common.base.Preconditions.checkArgument;

import org.rlhf4j.core.tokenizer.Tokenizer;

/** A test tokenizer of 11 ids: the letters a..h, then BOS, EOS and PAD (small enough for gradient checks). */
final class LetterTokenizer implements Tokenizer {
  static final int BOS = 8;
  static final int EOS = 9;
  static final int PAD = 10;

  @Override
  public int[] encode(String text) {
    int[] out = new int[text.length()];
    for (int i = 0; i < out.length; i++) {
      char c = text.charAt(i);
      checkArgument(c >= 'a' && c <= 'h', "only a..h, got %s", c);
      out[i] = c - 'a';
    }
    return out;
  }

  @Override
  public String decode(int[] ids, boolean skipSpecialTokens) {
    StringBuilder sb = new StringBuilder();
    for (int id : ids) {
      if (id < 8) {
        sb.append((char) ('a' + id));
      } else if (!skipSpecialTokens) {
        sb.append('<').append(id).append('>');
      }
    }
    return sb.toString();
  }

  @Override
  public int vocabSize() {
    return 11;
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
    return id >= 8;
  }

  @Override
  public String describe() {
    return "letters a..h";
  }
}
