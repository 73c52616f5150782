package org.rlhf4j.reward.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.testing.TestData;
import org.rlhf4j.reward.data.RatedPairs.Options;

class RatedPairsTest {

  private static List<RatedText> synthetic(int n, long seed) {
    Random random = new Random(seed);
    List<RatedText> texts = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      texts.add(new RatedText("s" + i, random.nextDouble() * 8 - 4, "text number " + i));
    }
    return texts;
  }

  private static void assertValid(List<RatedPair> pairs, double gap, int maxUses) {
    Map<String, Integer> uses = new HashMap<>();
    Set<String> distinct = new HashSet<>();
    for (RatedPair p : pairs) {
      assertTrue(p.chosen().rating() > p.rejected().rating(), p.toString());
      assertTrue(p.gap() >= gap, p.toString());
      uses.merge(p.chosen().id(), 1, Integer::sum);
      uses.merge(p.rejected().id(), 1, Integer::sum);
      assertTrue(distinct.add(p.chosen().id() + "|" + p.rejected().id()), "repeated pair " + p);
    }
    assertTrue(uses.values().stream().allMatch(u -> u <= maxUses), "uses " + uses);
  }

  @Test
  void pairsRespectGapOrderAndUseLimit() {
    List<RatedText> texts = synthetic(600, 1);
    List<RatedPair> pairs =
        RatedPairs.sample(texts, Options.of(150, 5).withMinGap(2.5).withMaxUsesPerText(1));
    assertEquals(150, pairs.size());
    assertValid(pairs, 2.5, 1);
    List<RatedPair> unlimited = RatedPairs.sample(texts, Options.of(2000, 5));
    assertEquals(2000, unlimited.size());
    assertValid(unlimited, 2.0, Integer.MAX_VALUE);
    PreferencePair pp = pairs.get(0).toPreferencePair();
    assertEquals(pairs.get(0).chosen().text(), pp.chosen());
    assertEquals("", pp.prompt());
  }

  @Test
  void deterministicForASeedAndIndependentOfInputOrder() {
    List<RatedText> texts = synthetic(400, 2);
    Options options = Options.of(100, 42).withMaxUsesPerText(2);
    List<RatedPair> a = RatedPairs.sample(texts, options);
    List<RatedText> shuffled = new ArrayList<>(texts);
    Collections.shuffle(shuffled, new Random(3));
    assertEquals(a, RatedPairs.sample(texts, options));
    assertEquals(a, RatedPairs.sample(shuffled, options));
    assertNotEquals(a, RatedPairs.sample(texts, Options.of(100, 43).withMaxUsesPerText(2)));
  }

  @Test
  void tooManyPairsFailClearly() {
    List<RatedText> texts =
        List.of(
            new RatedText("a", 3, "great"),
            new RatedText("b", -3, "awful"),
            new RatedText("c", 0, "meh"),
            new RatedText("d", 2.9, "good"));
    // Exactly 5 pairs are at least 2.0 apart: a-b, a-c, b-c, b-d, c-d (a-d differ by only 0.1).
    List<RatedPair> all = RatedPairs.sample(texts, Options.of(5, 0));
    assertValid(all, 2.0, Integer.MAX_VALUE);
    RlhfException tooMany =
        assertThrows(RlhfException.class, () -> RatedPairs.sample(texts, Options.of(6, 0)));
    assertTrue(tooMany.getMessage().contains("could only build 5 of 6"), tooMany.getMessage());
    RlhfException capacity =
        assertThrows(
            RlhfException.class,
            () -> RatedPairs.sample(texts, Options.of(3, 0).withMaxUsesPerText(1)));
    assertTrue(capacity.getMessage().contains("cannot build 3 pairs"), capacity.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Options.of(0, 0));
    assertThrows(IllegalArgumentException.class, () -> Options.of(1, 0).withMinGap(0));
  }

  @Test
  void sharedReviewsGiveHeldOutFreeTrainingPairs() throws IOException {
    List<RatedText> texts =
        RatedTexts.read(TestData.require("sentiment/movie-review-snippets.tsv"));
    RatedTexts.Split split = RatedTexts.split(texts, 0.1, 7);
    Set<String> heldOut = new HashSet<>();
    split.heldOut().forEach(t -> heldOut.add(t.text()));
    List<RatedPair> pairs =
        RatedPairs.sample(split.train(), Options.of(1500, 7).withMaxUsesPerText(1));
    assertEquals(1500, pairs.size());
    assertValid(pairs, 2.0, 1);
    for (RatedPair p : pairs) {
      assertTrue(!heldOut.contains(p.chosen().text()) && !heldOut.contains(p.rejected().text()), p.toString());
    }
    assertEquals(pairs, RatedPairs.sample(split.train(), Options.of(1500, 7).withMaxUsesPerText(1)));
  }
}
