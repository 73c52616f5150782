package org.rlhf4j.ppo;

import com.google.common.collect.ImmutableList;
import java.util.List;
import org.rlhf4j.core.tokenizer.Tokenizer;

/** Turns a scored rollout into {@link ScoredCompletion}s (texts with their scores). */
final class StepTexts {
  private StepTexts() {}

  static ImmutableList<ScoredCompletion> completions(List<String> prompts, Rollout r, Tokenizer tok) {
    ImmutableList.Builder<ScoredCompletion> out = ImmutableList.builderWithExpectedSize(r.batchSize());
    for (int i = 0; i < r.batchSize(); i++) {
      double kl = 0;
      for (int t = 0; t < r.length[i]; t++) {
        kl += r.kl[i][t];
      }
      String response = tok.decode(r.response(i), true);
      out.add(new ScoredCompletion(prompts.get(r.promptIndex[i]), response, r.rawScores[i], r.scores[i], kl, r.hasEos[i]));
    }
    return out.build();
  }
}
