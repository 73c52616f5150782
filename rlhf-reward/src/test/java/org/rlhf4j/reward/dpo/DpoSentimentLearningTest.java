package org.rlhf4j.reward.dpo;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.data.SftExample;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftResult;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.core.testing.TestData;
import org.rlhf4j.core.train.LoggingListener;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.data.RatedPair;
import org.rlhf4j.reward.data.RatedPairs;
import org.rlhf4j.reward.data.RatedText;
import org.rlhf4j.reward.data.RatedTexts;

/**
 * DPO learns from real human judgements: a tiny byte-level LM is first trained on the movie-review
 * sentences (language modelling, the "SFT" reference), then DPO-trained on pairs of sentences whose
 * mean human ratings differ by at least 2 (the higher rated preferred), and its implicit reward
 * {@code β log π/π_ref} is evaluated on pairs of held-out sentences. Words are tokens (a 2,000-word
 * test vocabulary), so the LM head stays small. Measured on this project's 2-core machine under a
 * load average of about 20: held-out accuracy 0.765 on 400 pairs (0 before DPO, when policy =
 * reference and every margin is 0), LM 100 steps + DPO 150 steps on 2,400 pairs, 19 s + 53 s.
 */
class DpoSentimentLearningTest {
  static final int MAX_CHARS = 100;

  static List<Ranking> rankings(List<RatedPair> pairs) {
    List<Ranking> out = new ArrayList<>();
    int i = 0;
    for (RatedPair p : pairs) {
      out.add(Ranking.pairwise("movie-review-snippets.tsv", ++i, "", p.chosen().text(), p.rejected().text()));
    }
    return out;
  }

  static List<RatedText> shortTexts(List<RatedText> texts) {
    return texts.stream().filter(t -> t.text().length() <= MAX_CHARS).toList();
  }

  @Test
  void heldOutImplicitRewardAccuracyWellAboveChance() throws IOException {
    Path tsv = TestData.require("sentiment/movie-review-snippets.tsv");
    RatedTexts.Split split = RatedTexts.split(RatedTexts.read(tsv), 0.15, 7);
    List<RatedText> train = shortTexts(split.train());
    List<Ranking> trainPairs = rankings(RatedPairs.sample(train, RatedPairs.Options.of(2400, 1)));
    List<Ranking> heldOut = rankings(RatedPairs.sample(shortTexts(split.heldOut()), RatedPairs.Options.of(400, 2)));
    WordTokenizer tok = new WordTokenizer(train.stream().map(RatedText::text).toList(), 2000);
    GptConfig c = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(32).heads(4).layers(2).contextLength(MAX_CHARS / 2).build();
    ModelOptions opts = new ModelOptions(DataType.FLOAT, 2);
    GptModel sft = GptModel.randomInit(c, 1, opts);
    List<SftExample> texts = train.stream().map(t -> SftExample.ofText(t.text())).toList();
    SftConfig lm = SftConfig.builder().learningRate(3e-3).warmupSteps(10).maxSteps(100).batchSize(16).seed(2).build();
    SftResult lmResult = new SftTrainer(lm).train(sft, SftData.fromExamples(texts, tok, c.contextLength(), true, false), null, null);

    GptModel policy = sft.copy(opts);
    DpoConfig cfg = DpoConfig.builder()
        .beta(0.1)
        .learningRate(2e-3)
        .warmupSteps(10)
        .promptsPerBatch(16)
        .seed(3)
        .build();
    DpoResult r = DpoTrainer.builder(cfg).policy(policy).reference(sft).tokenizer(tok).listener(new LoggingListener(50)).build().train(trainPairs, heldOut);
    double acc = r.finalEval().get().accuracy();
    String measured = String.format(
        "held-out implicit-reward accuracy %.3f (before %.3f: policy = reference) on %d pairs; LM %d steps (loss %.2f) + DPO %d steps on %d pairs in %.1f s + %.1f s",
        acc, r.initialEval().get().accuracy(), r.finalEval().get().pairs(), lmResult.steps(), lmResult.finalLoss(), r.steps(), r.trainPairs(),
        lmResult.seconds(), r.seconds());
    System.out.println("DPO: " + measured);
    assertTrue(acc > 0.68, "DPO's implicit reward should rank held-out pairs well above chance (0.5): " + measured);
  }
}
