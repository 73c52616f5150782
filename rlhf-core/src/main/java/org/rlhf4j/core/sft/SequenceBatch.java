package org.rlhf4j.core.sft;

import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.TokenBatch;

/**
 * Right-padded training sequences: the token batch {@code [B, T]} and the target mask {@code [B,
 * T-1]} aligned with {@code ForwardPass.tokenLogProbs} (entry {@code t} says whether token {@code
 * t+1} is a target).
 */
public record SequenceBatch(TokenBatch tokens, INDArray targetMask) {

  /** Pads {@code sequences} on the right with {@code padId} (masked out). */
  public static SequenceBatch collate(List<TokenizedSequence> sequences, int padId) {
    int b = sequences.size();
    int t = 0;
    for (TokenizedSequence s : sequences) {
      t = Math.max(t, s.length());
    }
    int[] ids = new int[b * t];
    int[] mask = new int[b * t];
    float[] targets = new float[b * (t - 1)];
    Arrays.fill(ids, padId);
    for (int i = 0; i < b; i++) {
      TokenizedSequence s = sequences.get(i);
      for (int j = 0; j < s.length(); j++) {
        ids[i * t + j] = s.id(j);
        mask[i * t + j] = 1;
        if (j >= 1) {
          targets[i * (t - 1) + j - 1] = s.target(j);
        }
      }
    }
    return new SequenceBatch(TokenBatch.of(b, t, ids, mask), Nd4j.createFromArray(targets).reshape(b, t - 1));
  }
}
