package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkNotNull;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * Scores (prompt + response) token sequences with one scalar each. PPO accepts any implementation:
 * a trained {@link TransformerRewardModel}, a rule, or an external classifier wrapped by the
 * application.
 */
public interface RewardModel {

  /**
   * The rewards of {@code sequences} (ids with an attention mask; prompts may be left-padded and
   * responses right-padded), {@code [B]}.
   */
  INDArray score(TokenBatch sequences);

  /**
   * The rewards of sequences whose responses start at position {@code responseStart} (prompts
   * left-padded to that length). The default ignores the split; rules that judge only the response
   * override it.
   */
  default INDArray score(TokenBatch sequences, int responseStart) {
    return score(sequences);
  }

  /** {@link #score(TokenBatch)} for {@code [B, T]} ids and mask arrays of any numeric type. */
  default INDArray score(INDArray ids, INDArray mask) {
    return score(TokenBatch.of(ids, mask));
  }

  /**
   * A reward computed by the application on texts, one completion at a time, e.g. {@code
   * RewardModel.ofText((prompt, response) -> response.contains("thanks") ? 1 : 0)}. A {@code
   * PpoTrainer} decodes with its own tokenizer; elsewhere call {@link
   * TextRewardModel#withTokenizer}.
   */
  static TextRewardModel ofText(TextScorer scorer) {
    checkNotNull(scorer, "scorer");
    return ofTexts(batch -> batch.stream().mapToDouble(c -> scorer.score(c.prompt(), c.response())).toArray());
  }

  /** {@link #ofText(TextScorer)} with the tokenizer that decodes the ids. */
  static TextRewardModel ofText(Tokenizer tokenizer, TextScorer scorer) {
    return ofText(scorer).withTokenizer(tokenizer);
  }

  /** A reward computed by the application on a whole batch of completions at once. */
  static TextRewardModel ofTexts(TextBatchScorer scorer) {
    return new TextRewardModel(scorer, null);
  }

  /**
   * The sum of this reward and {@code other} (e.g. a trained model plus an application's rule on
   * the texts); both see the same sequences and response start. A text reward in the sum is bound
   * to a {@code PpoTrainer}'s tokenizer only when it is given to the trainer directly, so give it
   * its tokenizer here: {@code rm.plus(RewardModel.ofText(tok, rule))}.
   */
  default RewardModel plus(RewardModel other) {
    checkNotNull(other, "other");
    RewardModel self = this;
    return new RewardModel() {
      @Override
      public INDArray score(TokenBatch sequences) {
        return self.score(sequences).castTo(DataType.DOUBLE)
            .addi(other.score(sequences).castTo(DataType.DOUBLE));
      }

      @Override
      public INDArray score(TokenBatch sequences, int responseStart) {
        return self.score(sequences, responseStart).castTo(DataType.DOUBLE)
            .addi(other.score(sequences, responseStart).castTo(DataType.DOUBLE));
      }
    };
  }
}
