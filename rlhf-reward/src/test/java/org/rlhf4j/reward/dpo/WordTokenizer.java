package org.rlhf4j.reward.dpo;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * A test tokenizer of the most frequent lowercase words (and punctuation marks) of a corpus, so
 * that a tiny LM sees words as tokens without GPT-2's 50k-row head: ids 0..3 are UNK, BOS, EOS,
 * PAD. Decoding joins words with spaces.
 */
final class WordTokenizer implements Tokenizer {
  private static final Pattern TOKEN = Pattern.compile("[a-z']+|[0-9]+|[^\\sa-z0-9]");
  private final Map<String, Integer> ids = new HashMap<>();
  private final List<String> words = new ArrayList<>(List.of("<unk>", "<bos>", "<eos>", "<pad>"));

  /** The {@code size - 4} most frequent tokens of {@code corpus} (ties broken alphabetically). */
  WordTokenizer(List<String> corpus, int size) {
    checkArgument(size > 4, "size must be > 4");
    Map<String, Integer> counts = new HashMap<>();
    for (String text : corpus) {
      for (String w : split(text)) {
        counts.merge(w, 1, Integer::sum);
      }
    }
    counts.entrySet().stream()
        .sorted(Map.Entry.<String, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
        .limit(size - 4)
        .forEach(e -> words.add(e.getKey()));
    for (int i = 0; i < words.size(); i++) {
      ids.put(words.get(i), i);
    }
  }

  private static List<String> split(String text) {
    List<String> out = new ArrayList<>();
    Matcher m = TOKEN.matcher(text.toLowerCase(Locale.ROOT));
    while (m.find()) {
      out.add(m.group());
    }
    return out;
  }

  @Override
  public int[] encode(String text) {
    return split(text).stream().mapToInt(w -> ids.getOrDefault(w, 0)).toArray();
  }

  @Override
  public String decode(int[] tokens, boolean skipSpecialTokens) {
    StringBuilder sb = new StringBuilder();
    for (int id : tokens) {
      if (skipSpecialTokens && id >= 1 && id <= 3) {
        continue;
      }
      if (sb.length() > 0) {
        sb.append(' ');
      }
      sb.append(words.get(id));
    }
    return sb.toString();
  }

  @Override
  public int vocabSize() {
    return words.size();
  }

  @Override
  public int bosId() {
    return 1;
  }

  @Override
  public int eosId() {
    return 2;
  }

  @Override
  public int padId() {
    return 3;
  }

  @Override
  public boolean isSpecial(int id) {
    return id >= 1 && id <= 3;
  }

  @Override
  public String describe() {
    return "test words (" + words.size() + ")";
  }
}
