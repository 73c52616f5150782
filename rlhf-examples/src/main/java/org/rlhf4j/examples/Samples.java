package org.rlhf4j.examples;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.fs.AtomicFiles;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.RewardModel;

/**
 * Samples a model on prompts, scores the samples with the proxy and the gold reward model and
 * measures their KL to a reference model: {@code sum over response tokens of log p(token) - log
 * q(token)} at the sampling temperature (an unbiased estimate of KL(p || q) per sequence).
 */
final class Samples {
  /** One prompt's sample: proxy score, gold score and KL to the reference. */
  record Sample(String prompt, String response, double score, double gold, double kl) {}

  private Samples() {}

  static List<Sample> sampleAndScore(CausalLm model, CausalLm reference, RewardModel proxy, RewardModel gold, Tokenizer tok, List<String> prompts, SamplingConfig cfg, long seed, int batch) {
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
      double[] scores = proxy.score(seq, p).toDoubleVector();
      double[] golds = gold == null ? new double[chunk.size()] : gold.score(seq, p).toDoubleVector();
      double[] kls = new double[chunk.size()];
      if (model != reference) {
        INDArray logp = model.forward(seq).tokenLogProbs(cfg.temperature()).logProbs();
        INDArray logq = reference.forward(seq).tokenLogProbs(cfg.temperature()).logProbs();
        for (int i = 0; i < chunk.size(); i++) {
          int n = g.response(i).length;
          for (int j = 0; j < n; j++) {
            kls[i] += logp.getDouble(i, p - 1 + j) - logq.getDouble(i, p - 1 + j);
          }
        }
      }
      for (int i = 0; i < chunk.size(); i++) {
        out.add(new Sample(chunk.get(i), tok.decode(g.response(i)), scores[i], gold == null ? Double.NaN : golds[i], kls[i]));
      }
    }
    return out;
  }

  static double meanScore(List<Sample> s) {
    return s.stream().mapToDouble(Sample::score).average().orElse(Double.NaN);
  }

  static double meanGold(List<Sample> s) {
    return s.stream().mapToDouble(Sample::gold).average().orElse(Double.NaN);
  }

  static double meanKl(List<Sample> s) {
    return s.stream().mapToDouble(Sample::kl).average().orElse(Double.NaN);
  }

  static double[] golds(List<Sample> s) {
    return s.stream().mapToDouble(Sample::gold).toArray();
  }

  /**
   * Writes one JSON object per line: {@code prompt}, {@code response}, {@code score} (the proxy
   * reward model's), {@code gold} (the gold reward model's) and {@code kl}; atomically.
   */
  static void write(Path file, List<Sample> samples) {
    ObjectMapper json = new ObjectMapper();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try {
      for (Sample s : samples) {
        ObjectNode o = json.createObjectNode();
        o.put("prompt", s.prompt());
        o.put("response", s.response());
        o.put("score", s.score());
        o.put("gold", s.gold());
        o.put("kl", s.kl());
        bytes.write(json.writeValueAsString(o).getBytes(StandardCharsets.UTF_8));
        bytes.write('\n');
      }
      AtomicFiles.writeBytes(file, bytes.toByteArray());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
