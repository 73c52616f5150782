package org.rlhf4j.dl4j;

import static com.google.common.base.Preconditions.checkNotNull;

import java.util.function.BiFunction;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Turns one (prompt, response) into the input the application's network expects: a feature
 * vector {@code [n]} or one example with a leading batch dimension of 1 ({@code [1, ...]}, e.g.
 * {@code [1, channels, length]} for a convolutional or recurrent network). Every sample of a batch
 * must give the same shape. Typically the application's existing featurization code.
 */
@FunctionalInterface
public interface Featurizer {
  /** The features of {@code sample}. */
  INDArray features(ScoredSample sample);

  /** A featurizer of the prompt and response texts (the reward model needs a tokenizer). */
  static Featurizer ofText(BiFunction<String, String, INDArray> promptAndResponse) {
    checkNotNull(promptAndResponse, "promptAndResponse");
    return new TextFeaturizer(promptAndResponse);
  }

  /** A featurizer of the prompt and response token ids. */
  static Featurizer ofTokens(BiFunction<int[], int[], INDArray> promptAndResponse) {
    checkNotNull(promptAndResponse, "promptAndResponse");
    return s -> promptAndResponse.apply(s.promptIds(), s.responseIds());
  }

  /** Whether this featurizer reads texts (and so needs a tokenizer). */
  default boolean needsText() {
    return false;
  }

  /** {@link #ofText}'s featurizer. */
  final class TextFeaturizer implements Featurizer {
    private final BiFunction<String, String, INDArray> f;

    private TextFeaturizer(BiFunction<String, String, INDArray> f) {
      this.f = f;
    }

    @Override
    public INDArray features(ScoredSample sample) {
      return f.apply(sample.promptText(), sample.responseText());
    }

    @Override
    public boolean needsText() {
      return true;
    }
  }
}
