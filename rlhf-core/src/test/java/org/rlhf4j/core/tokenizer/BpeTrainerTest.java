package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer.Merge;

class BpeTrainerTest {
  @TempDir Path dir;

  /** Review-like text from a small vocabulary with Zipf-ish word frequencies, seeded. */
  static List<String> corpus(long seed, int sentences) {
    String[] words = {
      "the", "film", "is", "a", "movie", "that", "never", "quite", "works", "but", "it's", "funny",
      "and", "moving", ",", ".", "performances", "director", "story", "characters", "too", "long",
      "wonderful", "dull", "12", "minutes", "isn't", "--", "charming", "Émile", "naïve", "😀"
    };
    Random rnd = new Random(seed);
    List<String> out = new ArrayList<>();
    for (int s = 0; s < sentences; s++) {
      StringBuilder sb = new StringBuilder();
      int n = 3 + rnd.nextInt(12);
      for (int i = 0; i < n; i++) {
        int w = (int) Math.floor(words.length * Math.pow(rnd.nextDouble(), 2));
        sb.append(i == 0 ? "" : " ").append(words[w]);
      }
      out.add(sb.toString());
    }
    return out;
  }

  @Test
  void mergesMatchANaiveRecountAtEveryStep() {
    List<String> texts = corpus(1, 400);
    Gpt2BpeTokenizer tok = BpeTrainer.of(400).train(texts);
    List<Merge> expected = naiveMerges(texts, 400);
    assertEquals(expected, tok.merges());
    assertEquals(256 + expected.size() + 1, tok.vocabSize());
    assertEquals(Gpt2BpeTokenizer.END_OF_TEXT, tok.token(tok.vocabSize() - 1));
    assertEquals(tok.vocabSize() - 1, tok.eosId());
  }

  @Test
  void firstMergeIsTheMostFrequentPairAndWordsBecomeTokens() {
    Gpt2BpeTokenizer tok = BpeTrainer.of(300).train(List.of("low lower lowest low low", "newest widest low"));
    assertEquals(new Merge("l", "o"), tok.merges().get(0), "'lo' occurs 6 times, more than any other pair");
    int[] ids = tok.encode(" low");
    assertEquals(1, ids.length, "a frequent word is a single token");
    assertEquals("Ġlow", tok.token(ids[0]));
  }

  @Test
  void stopsWhenNoPairRepeats() {
    Gpt2BpeTokenizer tok = BpeTrainer.of(5000).train(List.of("abcabc xyz"));
    // "abcabc": ab (2), bc (2), ca (1); " xyz" pairs once each.
    assertTrue(tok.merges().size() <= 3, "only pairs seen twice are merged: " + tok.merges());
    assertEquals(257 + tok.merges().size(), tok.vocabSize());
  }

  @Test
  void deterministic() {
    List<String> texts = corpus(2, 2000);
    Gpt2BpeTokenizer a = BpeTrainer.of(600).train(texts);
    Gpt2BpeTokenizer b = BpeTrainer.of(600).train(new ArrayList<>(texts));
    assertEquals(a.merges(), b.merges());
    assertEquals(a.vocabulary(), b.vocabulary());
  }

  @Test
  void encodeDecodeIsTheIdentity() {
    Gpt2BpeTokenizer tok = BpeTrainer.of(600).train(corpus(3, 2000));
    List<String> strings = new ArrayList<>(TrickyStrings.ALL);
    strings.addAll(corpus(4, 50));
    Random rnd = new Random(5);
    for (int i = 0; i < 50; i++) {
      strings.add(TrickyStrings.randomCodePoints(rnd, 1 + rnd.nextInt(30)));
    }
    for (String s : strings) {
      String expected = s.codePoints().anyMatch(c -> c >= 0xD800 && c <= 0xDFFF) ? null : s;
      if (expected != null) {
        assertEquals(s, tok.decode(tok.encode(s)), "round trip of " + s);
      }
    }
    String text = String.join(" ", corpus(6, 100));
    assertTrue(tok.encode(text).length < Utf8.encode(text).length / 2, "trained merges compress in-domain text");
  }

  @Test
  void tokenizerJsonRoundTripAndLayout() throws Exception {
    Gpt2BpeTokenizer tok = BpeTrainer.of(500).train(corpus(7, 1500));
    Path file = dir.resolve("out/tokenizer.json");
    Tokenizers.writeTokenizerJson(tok, file);
    Gpt2BpeTokenizer back = Gpt2BpeTokenizer.fromTokenizerJson(file);
    assertEquals(tok.vocabulary(), back.vocabulary());
    assertEquals(tok.merges(), back.merges());
    assertEquals(tok.eosId(), back.eosId());
    for (String s : corpus(8, 30)) {
      assertArrayEquals(tok.encode(s), back.encode(s));
    }
    // Same layout as a tokenizer.json written by the Hugging Face tokenizers library.
    JsonNode ours = BpeFiles.JSON.readTree(file.toFile());
    Path fixture = fixture();
    if (fixture != null) {
      JsonNode hf = BpeFiles.JSON.readTree(fixture.toFile());
      assertEquals(keys(hf), keys(ours));
      assertEquals(keys(hf.get("model")), keys(ours.get("model")));
      assertEquals(keys(hf.get("added_tokens").get(0)), keys(ours.get("added_tokens").get(0)));
    }
    assertEquals("ByteLevel", ours.at("/pre_tokenizer/type").asText());
    assertEquals("ByteLevel", ours.at("/decoder/type").asText());
    assertEquals(Gpt2BpeTokenizer.END_OF_TEXT, ours.at("/added_tokens/0/content").asText());
    assertEquals(tok.eosId(), ours.at("/added_tokens/0/id").asInt());
    // And a checkpoint's tokenizer directory round-trips too.
    Tokenizers.save(tok, dir.resolve("ckpt"));
    Tokenizer loaded = Tokenizers.load(dir.resolve("ckpt"));
    assertEquals(tok.vocabSize(), loaded.vocabSize());
    assertEquals(tok.merges(), Gpt2BpeTokenizer.fromTokenizerJson(dir.resolve("ckpt/tokenizer.json")).merges());
    assertArrayEquals(tok.encode("the film is wonderful"), loaded.encode("the film is wonderful"));
  }

  @Test
  void rejectsBadArguments() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new BpeTrainer(256, 2));
    assertTrue(e.getMessage().contains("256"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new BpeTrainer(1000, 0));
    List<String> withNull = new ArrayList<>();
    withNull.add("a");
    withNull.add(null);
    e = assertThrows(IllegalArgumentException.class, () -> BpeTrainer.of(300).train(withNull));
    assertTrue(e.getMessage().contains("texts[1]"), e.getMessage());
  }

  private static TreeSet<String> keys(JsonNode n) {
    TreeSet<String> out = new TreeSet<>();
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      out.add(it.next());
    }
    return out;
  }

  private static Path fixture() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path f = p.resolve("shared/fixtures/hf/tokenizer-bytelevel-bpe/tokenizer.json");
      if (Files.isRegularFile(f)) {
        return f;
      }
      Path g = p.resolve("../shared/fixtures/hf/tokenizer-bytelevel-bpe/tokenizer.json").normalize();
      if (Files.isRegularFile(g)) {
        return g;
      }
    }
    return null;
  }

  /** Textbook BPE: recount every pair after every merge; ties to the smallest (left, right) ids. */
  static List<Merge> naiveMerges(List<String> texts, int vocabSize) {
    Map<String, Integer> pieces = new LinkedHashMap<>();
    for (String s : texts) {
      var m = Gpt2PreTokenizer.PATTERN.matcher(s);
      while (m.find()) {
        pieces.merge(m.group(), 1, Integer::sum);
      }
    }
    List<String> tokens = new ArrayList<>();
    for (int b = 0; b < 256; b++) {
      if (ByteLevel.charOf(b) < 256) {
        tokens.add(String.valueOf(ByteLevel.charOf(b)));
      }
    }
    for (int b = 0; b < 256; b++) {
      if (ByteLevel.charOf(b) >= 256) {
        tokens.add(String.valueOf(ByteLevel.charOf(b)));
      }
    }
    Map<String, Integer> id = new HashMap<>();
    for (int i = 0; i < tokens.size(); i++) {
      id.put(tokens.get(i), i);
    }
    List<List<Integer>> words = new ArrayList<>();
    List<Integer> counts = new ArrayList<>();
    for (Map.Entry<String, Integer> e : pieces.entrySet()) {
      List<Integer> w = new ArrayList<>();
      for (byte b : Utf8.encode(e.getKey())) {
        w.add(id.get(String.valueOf(ByteLevel.charOf(b & 0xFF))));
      }
      words.add(w);
      counts.add(e.getValue());
    }
    List<Merge> merges = new ArrayList<>();
    while (tokens.size() < vocabSize - 1) {
      Map<List<Integer>, Integer> pc = new HashMap<>();
      for (int i = 0; i < words.size(); i++) {
        List<Integer> w = words.get(i);
        for (int j = 0; j + 1 < w.size(); j++) {
          pc.merge(List.of(w.get(j), w.get(j + 1)), counts.get(i), Integer::sum);
        }
      }
      List<Integer> best = null;
      int bestCount = 0;
      for (Map.Entry<List<Integer>, Integer> e : pc.entrySet()) {
        List<Integer> k = e.getKey();
        int c = e.getValue();
        if (c > bestCount || c == bestCount && (k.get(0) < best.get(0) || k.get(0).equals(best.get(0)) && k.get(1) < best.get(1))) {
          best = k;
          bestCount = c;
        }
      }
      if (best == null || bestCount < 2) {
        break;
      }
      int a = best.get(0);
      int b = best.get(1);
      int c = tokens.size();
      tokens.add(tokens.get(a) + tokens.get(b));
      merges.add(new Merge(tokens.get(a), tokens.get(b)));
      for (List<Integer> w : words) {
        for (int j = 0; j + 1 < w.size(); j++) {
          if (w.get(j) == a && w.get(j + 1) == b) {
            w.set(j, c);
            w.remove(j + 1);
          }
        }
      }
    }
    return merges;
  }
}
