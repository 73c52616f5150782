package org.rlhf4j.examples;

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
 * The quick-start's data, all from human-rated movie-review sentences, split by sentence id so that
 * nothing evaluated is trained on:
 *
 * <ul>
 *   <li>80 % of the sentences are training text: all of them go into pre-training; the short ones
 *       ({@code <= maxChars} characters, at least 5 words) are the SFT demonstrations (the first
 *       three words as the prompt, the rest as the completion), and their human ratings are split
 *       in two disjoint halves: comparisons for the <b>proxy</b> reward model (the one PPO
 *       optimises) and comparisons for the <b>gold</b> reward model (the stand-in for human
 *       judgement, never seen by PPO);
 *   <li>20 % are held out: their comparisons measure both reward models' accuracy, and their
 *       openings are the prompts: one half for PPO, the other for evaluation (the first {@code
 *       evalPrompts} for the final samples, the next {@code trackPrompts} to follow proxy and gold
 *       scores during PPO).
 * </ul>
 *
 * A comparison is two sentences whose mean human ratings differ by at least 2, the higher rated
 * preferred.
 */
final class ReviewData {
  static final int PROMPT_WORDS = 3;

  final List<String> trainingSentences;
  final List<SftExample> demonstrations;
  final List<SftExample> heldOutDemonstrations;
  final List<Ranking> proxyComparisons;
  final List<Ranking> goldComparisons;
  final List<Ranking> heldOutComparisons;
  final List<String> ppoPrompts;
  final List<String> evalPrompts;
  final List<String> trackPrompts;

  private ReviewData(List<String> trainingSentences, List<SftExample> demos, List<SftExample> heldOutDemos, List<Ranking> proxy, List<Ranking> gold, List<Ranking> heldOut,
      List<String> ppo, List<String> eval, List<String> track) {
    this.trainingSentences = trainingSentences;
    this.demonstrations = demos;
    this.heldOutDemonstrations = heldOutDemos;
    this.proxyComparisons = proxy;
    this.goldComparisons = gold;
    this.heldOutComparisons = heldOut;
    this.ppoPrompts = ppo;
    this.evalPrompts = eval;
    this.trackPrompts = track;
  }

  /** Loads and splits the TSV (see the class documentation). */
  static ReviewData load(Path tsv, int maxChars, int proxyPairs, int goldPairs, int evalPrompts, int trackPrompts, long seed) {
    RatedTexts.Split split = RatedTexts.split(RatedTexts.read(tsv), 0.2, seed);
    List<String> training = split.train().stream().map(RatedText::text).toList();
    List<RatedText> train = shortOnes(split.train(), maxChars);
    List<RatedText> heldOutTexts = shortOnes(split.heldOut(), maxChars);
    RatedTexts.Split halves = RatedTexts.split(train, 0.5, seed + 5);
    List<SftExample> demos = new ArrayList<>();
    for (RatedText t : train) {
      demos.add(demonstration(t.text()));
    }
    List<SftExample> heldOutDemos = new ArrayList<>();
    for (RatedText t : heldOutTexts) {
      heldOutDemos.add(demonstration(t.text()));
    }
    List<Ranking> proxy = rankings(RatedPairs.sample(halves.train(), RatedPairs.Options.of(proxyPairs, seed + 1)));
    List<Ranking> gold = rankings(RatedPairs.sample(halves.heldOut(), RatedPairs.Options.of(goldPairs, seed + 6)));
    int heldOutPairs = Math.min(400, heldOutTexts.size() / 2);
    List<Ranking> heldOut = rankings(RatedPairs.sample(heldOutTexts, RatedPairs.Options.of(heldOutPairs, seed + 2)));
    int[] order = Permutations.random(heldOutTexts.size(), new SplittableRandom(seed + 3));
    List<String> ppo = new ArrayList<>();
    List<String> other = new ArrayList<>();
    for (int i = 0; i < order.length; i++) {
      String opening = demonstration(heldOutTexts.get(order[i]).text()).prompt();
      (i % 2 == 0 ? ppo : other).add(opening);
    }
    if (other.size() < evalPrompts + trackPrompts) {
      throw new IllegalArgumentException("only " + other.size() + " held-out openings for " + evalPrompts + " evaluation and " + trackPrompts + " tracking prompts");
    }
    List<String> eval = List.copyOf(other.subList(0, evalPrompts));
    List<String> track = List.copyOf(other.subList(evalPrompts, evalPrompts + trackPrompts));
    return new ReviewData(training, demos, heldOutDemos, proxy, gold, heldOut, ppo, eval, track);
  }

  private static List<RatedText> shortOnes(List<RatedText> texts, int maxChars) {
    return texts.stream().filter(t -> t.text().length() <= maxChars && t.text().split(" ").length >= 5).toList();
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
