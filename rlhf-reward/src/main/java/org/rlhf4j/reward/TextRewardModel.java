package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * A {@link RewardModel} over texts: decodes each (prompt, response) with a tokenizer (special tokens
 * such as BOS, EOS and padding removed) and asks the application's {@link TextBatchScorer}. Made by
 * {@link RewardModel#ofText} and {@link RewardModel#ofTexts}; a model made without a tokenizer gets
 * the trainer's ({@code PpoTrainer.Builder.build()} binds it). Immutable; holds no native memory.
 */
public final class TextRewardModel implements RewardModel {
  private final TextBatchScorer scorer;
  private final Tokenizer tokenizer; // null until bound

  TextRewardModel(TextBatchScorer scorer, Tokenizer tokenizer) {
    this.scorer = checkNotNull(scorer, "scorer");
    this.tokenizer = tokenizer;
  }

  /** This reward with {@code tok} decoding the token ids. */
  public TextRewardModel withTokenizer(Tokenizer tok) {
    return new TextRewardModel(scorer, checkNotNull(tok, "tokenizer"));
  }

  /** The tokenizer that decodes the ids, if bound. */
  public Optional<Tokenizer> tokenizer() {
    return Optional.ofNullable(tokenizer);
  }

  /** Scores texts directly: one finite score per completion. */
  public double[] scoreTexts(List<Completion> batch) {
    double[] s = scorer.score(List.copyOf(batch));
    if (s == null || s.length != batch.size()) {
      throw new RlhfException(
          "the text reward returned " + (s == null ? "null" : s.length + " scores") + " for " + batch.size() + " completions");
    }
    for (int i = 0; i < s.length; i++) {
      if (!Double.isFinite(s[i])) {
        throw new RlhfException("the text reward returned " + s[i] + " for completion " + i + ": " + batch.get(i));
      }
    }
    return s;
  }

  /** The whole sequence is the response (the prompt is empty). */
  @Override
  public INDArray score(TokenBatch sequences) {
    return score(sequences, 0);
  }

  /** Decodes the prompt (positions before {@code responseStart}) and the response, then scores them. */
  @Override
  public INDArray score(TokenBatch sequences, int responseStart) {
    checkState(tokenizer != null, "this text reward has no tokenizer: use withTokenizer(tok) or give it to a PpoTrainer");
    checkArgument(responseStart >= 0 && responseStart <= sequences.length(), "responseStart %s outside [0, %s]", responseStart, sequences.length());
    return Nd4j.createFromArray(scoreTexts(decode(sequences, responseStart, tokenizer)));
  }

  /** The (prompt, response) texts of {@code sequences}, split at {@code responseStart}. */
  public static List<Completion> decode(TokenBatch sequences, int responseStart, Tokenizer tok) {
    List<Completion> out = new ArrayList<>(sequences.batchSize());
    for (int b = 0; b < sequences.batchSize(); b++) {
      out.add(new Completion(text(sequences, b, 0, responseStart, tok), text(sequences, b, responseStart, sequences.length(), tok)));
    }
    return out;
  }

  private static String text(TokenBatch s, int b, int from, int to, Tokenizer tok) {
    int[] ids = new int[to - from];
    int n = 0;
    for (int t = from; t < to; t++) {
      if (s.mask(b, t) == 1) {
        ids[n++] = s.id(b, t);
      }
    }
    return tok.decode(Arrays.copyOf(ids, n), true);
  }
}
