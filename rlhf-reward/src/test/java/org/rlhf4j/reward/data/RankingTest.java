package org.rlhf4j.reward.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.data.DataFormatException;

class RankingTest {

  @Test
  void fourWayRankingExpandsIntoSixPairsOfWeightOneSixth() {
    // Responses stored as A, B, C, D; ranked C > A > D > B.
    Ranking r = Ranking.of("k.jsonl", 3, "p", List.of("A", "B", "C", "D"), List.of(2, 0, 3, 1));
    assertEquals(4, r.k());
    assertEquals(List.of("C", "A", "D", "B"), r.ranked());
    assertEquals("C", r.best());
    List<PreferencePair> pairs = r.pairs();
    assertEquals(6, pairs.size());
    List<String> expected = List.of("C>A", "C>D", "C>B", "A>D", "A>B", "D>B");
    for (int i = 0; i < 6; i++) {
      PreferencePair p = pairs.get(i);
      assertEquals(expected.get(i), p.chosen() + ">" + p.rejected());
      assertEquals("p", p.prompt());
      assertEquals(1.0 / 6, p.weight(), 1e-15);
    }
    assertEquals(1.0, pairs.stream().mapToDouble(PreferencePair::weight).sum(), 1e-12);
  }

  @Test
  void pairwiseIsKTwoWithWeightOne() {
    Ranking r = Ranking.pairwise("a.jsonl", 1, "q", "good", "bad");
    assertEquals(List.of(new PreferencePair("q", "good", "bad", 1.0)), r.pairs());
    Ranking three = Ranking.of("a", 2, "q", List.of("x", "y", "z"), List.of(0, 1, 2));
    List<PreferencePair> all = Ranking.pairs(List.of(r, three));
    assertEquals(4, all.size());
    assertEquals(1.0 / 3, all.get(3).weight(), 1e-15);
  }

  @Test
  void equalityIgnoresLocationButNotLabeller() {
    Ranking a = Ranking.pairwise("a.jsonl", 1, "q", "good", "bad");
    Ranking b = Ranking.pairwise("b.jsonl", 9, "q", "good", "bad");
    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertNotEquals(a, b.withLabeller("L7"));
    assertEquals("L7", b.withLabeller("L7").labeller().orElseThrow());
    assertTrue(a.labeller().isEmpty());
    assertEquals("b.jsonl", b.source());
    assertEquals(9, b.line());
  }

  @Test
  void invalidRankingsNameTheRecordAndField() {
    assertError("field \"responses\": a ranking needs at least 2 responses, got 1",
        List.of("only"), List.of(0));
    assertError("field \"responses[1]\": must not be empty", List.of("a", " ", "c"),
        List.of(0, 1, 2));
    assertError("field \"ranking\": index 1 appears more than once", List.of("a", "b", "c"),
        List.of(1, 0, 1));
    assertError("field \"ranking\": index 2 is missing", List.of("a", "b", "c"), List.of(1, 0));
    assertError("field \"ranking\": index 3 is out of range 0..2", List.of("a", "b", "c"),
        List.of(0, 3, 1));
    assertError("field \"ranking\": index -1 is out of range", List.of("a", "b"), List.of(0, -1));
  }

  private static void assertError(String expected, List<String> responses, List<Integer> order) {
    DataFormatException e =
        assertThrows(
            DataFormatException.class, () -> Ranking.of("rank.jsonl", 42, "p", responses, order));
    assertEquals(42, e.line());
    assertTrue(e.getMessage().startsWith("rank.jsonl:42: "), e.getMessage());
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }

  @Test
  void preferencePairRejectsBadWeights() {
    assertThrows(IllegalArgumentException.class, () -> new PreferencePair("p", "a", "b", 0));
    assertThrows(
        IllegalArgumentException.class, () -> new PreferencePair("p", "a", "b", Double.NaN));
  }
}
