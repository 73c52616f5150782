package org.rlhf4j.examples;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.rlhf4j.core.data.SftExample;
import org.rlhf4j.core.train.Permutations;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.data.RatedPair;
import org.rlhf4j.reward.data.RatedPairs;
import org.rlhf4j.reward.data.RatedText;
import org.rlhf4j.reward.data.RatedTexts;

/**
 * The quick-start's data, all from human-rated movie-review sentences: demonstrations (a review's
 * first words as the prompt, the rest as the completion), comparisons (two sentences whose mean
 * human ratings differ by at least 2, the higher rated preferred) and held-out openings as prompts.
 * Sentences are split by id, so nothing held out is trained on.
 */
final class ReviewData {
  static final int PROMPT_WORDS = 3;

  final List<SftExample> demonstrations;
  final List<SftExample> heldOutDemonstrations;
  final List<Ranking> trainComparisons;
  final List<Ranking> heldOutComparisons;
  final List<String> ppoPrompts;
  final List<String> evalPrompts;

  private ReviewData(List<SftExample> demos, List<SftExample> heldOutDemos, List<Ranking> train, List<Ranking> heldOut, List<String> ppo, List<String> eval) {
    this.demonstrations = demos;
    this.heldOutDemonstrations = heldOutDemos;
    this.trainComparisons = train;
    this.heldOutComparisons = heldOut;
    this.ppoPrompts = ppo;
    this.evalPrompts = eval;
  }

  /** Loads the TSV, keeping sentences of at most {@code maxBytes} UTF-8 bytes and at least 5 words. */
  static ReviewData load(Path tsv, int maxBytes, int comparisons, long seed) {
    List<RatedText> all = new ArrayList<>();
    for (RatedText t : RatedTexts.read(tsv)) {
      if (t.text().getBytes(StandardCharsets.UTF_8).length <= maxBytes && t.text().split(" ").length >= 5) {
        all.add(t);
      }
    }
    RatedTexts.Split split = RatedTexts.split(all, 0.2, seed);
    List<SftExample> demos = new ArrayList<>();
    for (RatedText t : split.train()) {
      demos.add(demonstration(t.text()));
    }
    List<SftExample> heldOutDemos = new ArrayList<>();
    for (RatedText t : split.heldOut()) {
      heldOutDemos.add(demonstration(t.text()));
    }
    List<Ranking> train = rankings(RatedPairs.sample(split.train(), RatedPairs.Options.of(comparisons, seed + 1)));
    int heldOutPairs = Math.min(400, split.heldOut().size() / 2);
    List<Ranking> heldOut = rankings(RatedPairs.sample(split.heldOut(), RatedPairs.Options.of(heldOutPairs, seed + 2)));
    int[] order = Permutations.random(split.heldOut().size(), new SplittableRandom(seed + 3));
    List<String> ppo = new ArrayList<>();
    List<String> eval = new ArrayList<>();
    for (int i = 0; i < order.length; i++) {
      String opening = demonstration(split.heldOut().get(order[i]).text()).prompt();
      (i % 2 == 0 ? ppo : eval).add(opening);
    }
    return new ReviewData(demos, heldOutDemos, train, heldOut, ppo, eval);
  }

  /** {@code "The Rock is destined ..."} becomes prompt {@code "The Rock is"}, completion {@code " destined ..."}. */
  static SftExample demonstration(String sentence) {
    int cut = -1;
    for (int w = 0; w < PROMPT_WORDS; w++) {
      cut = sentence.indexOf(' ', cut + 1);
    }
    return new SftExample(sentence.substring(0, cut), sentence.substring(cut));
  }

  private static List<Ranking> rankings(List<RatedPair> pairs) {
    List<Ranking> out = new ArrayList<>();
    int i = 0;
    for (RatedPair p : pairs) {
      out.add(Ranking.pairwise("movie-review-snippets.tsv", ++i, "", p.chosen().text(), p.rejected().text()));
    }
    return out;
  }
}
