package org.rlhf4j.core.sft;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * One training sequence: token ids and which of them are loss targets ({@code targetMask[i] == 1}
 * means the model is trained to predict {@code ids[i]} from {@code ids[..i-1]}; position 0 is never a
 * target). For prompt/completion pairs only the completion (and its EOS) are targets.
 */
public record TokenizedSequence(int[] ids, int[] targetMask) {
  public TokenizedSequence {
    checkArgument(ids.length >= 2, "a training sequence needs at least 2 tokens, got %s", ids.length);
    checkArgument(targetMask.length == ids.length, "targetMask length %s != ids length %s", targetMask.length, ids.length);
    checkArgument(targetMask[0] == 0, "position 0 cannot be a target");
    ids = ids.clone();
    targetMask = targetMask.clone();
  }

  /** The number of target tokens. */
  public int targetCount() {
    int n = 0;
    for (int m : targetMask) {
      n += m;
    }
    return n;
  }

  @Override
  public int[] ids() {
    return ids.clone();
  }

  @Override
  public int[] targetMask() {
    return targetMask.clone();
  }

  int id(int i) {
    return ids[i];
  }

  int target(int i) {
    return targetMask[i];
  }

  int length() {
    return ids.length;
  }
}
