package org.rlhf4j.examples;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.GptModel;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.RewardModel;

/**
 * Samples a model on prompts, scores the samples with a reward model and measures their KL to a
 * reference model: {@code sum over response tokens of log p(token) - log q(token)} at the sampling
 * temperature.
 */
final class Samples {
  /** One prompt's sample. */
  record Sample(String prompt, String response, double score, double kl) {}

  private Samples() {}

  static List<Sample> sampleAndScore(GptModel model, GptModel reference, RewardModel rm, Tokenizer tok, List<String> prompts, SamplingConfig cfg, long seed, int batch) {
    List<Sample> out = new ArrayList<>();
    SplittableRandom rng = new SplittableRandom(seed);
    for (int start = 0; start < prompts.size(); start += batch) {
      List<String> chunk = prompts.subList(start, Math.min(prompts.size(), start + batch));
      List<int[]> ids = new ArrayList<>();
      for (String p : chunk) {
        ids.add(tok.encodePrompt(p, true));
      }
      Generation g = Generator.generate(model, TokenBatch.leftPadded(ids, tok.padId()), cfg, rng, tok.padId());
      TokenBatch seq = g.sequences();
      int p = g.prompts().length();
      double[] scores = rm.score(seq, p).toDoubleVector();
      INDArray logp = model.forward(seq).tokenLogProbs(cfg.temperature()).logProbs();
      INDArray logq = reference.forward(seq).tokenLogProbs(cfg.temperature()).logProbs();
      for (int i = 0; i < chunk.size(); i++) {
        int[] r = g.response(i);
        double kl = 0;
        for (int j = 0; j < r.length; j++) {
          kl += logp.getDouble(i, p - 1 + j) - logq.getDouble(i, p - 1 + j);
        }
        out.add(new Sample(chunk.get(i), tok.decode(r), scores[i], kl));
      }
    }
    return out;
  }

  static double meanScore(List<Sample> s) {
    return s.stream().mapToDouble(Sample::score).average().orElse(Double.NaN);
  }

  static double meanKl(List<Sample> s) {
    return s.stream().mapToDouble(Sample::kl).average().orElse(Double.NaN);
  }

  static void write(Path file, List<Sample> samples) {
    ObjectMapper json = new ObjectMapper();
    try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      for (Sample s : samples) {
        ObjectNode o = json.createObjectNode();
        o.put("prompt", s.prompt());
        o.put("response", s.response());
        o.put("score", s.score());
        o.put("kl", s.kl());
        w.write(json.writeValueAsString(o));
        w.newLine();
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
