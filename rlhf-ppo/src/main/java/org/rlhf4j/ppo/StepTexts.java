package org.rlhf4j.ppo;

import com.google.common.collect.ImmutableList;
import java.util.List;
import org.rlhf4j.core.tokenizer.Tokenizer;

/** Turns a scored PPO batch into {@link ScoredCompletion}s (texts with their scores). */
final class StepTexts {
  private StepTexts() {}

  static ImmutableList<ScoredCompletion> completions(List<String> prompts, PpoBatch batch, Tokenizer tok) {
    Rollout r = batch.rollout;
    double[] kl = r.sequenceKl();
    ImmutableList.Builder<ScoredCompletion> out = ImmutableList.builderWithExpectedSize(r.batchSize());
    for (int i = 0; i < r.batchSize(); i++) {
      String response = tok.decode(r.response(i), true);
      out.add(new ScoredCompletion(prompts.get(r.promptIndex[i]), response, r.scores[i], batch.scores[i], kl[i], r.hasEos[i]));
    }
    return out.build();
  }
}
