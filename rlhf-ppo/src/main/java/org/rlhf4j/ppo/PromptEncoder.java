package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayList;
import java.util.List;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * Encodes the prompts of an RL step and refuses one that cannot be rolled out: a prompt that encodes
 * to no tokens, or that leaves no room for {@code maxNewTokens} in the context, is an error naming
 * it ("prompt 3 of the pool", "prompt 1 of the batch"), its text and the numbers.
 */
final class PromptEncoder {
  private final Tokenizer tokenizer;
  private final boolean addBos;
  private final int contextLength;
  private final int maxNewTokens;

  PromptEncoder(Tokenizer tokenizer, boolean addBos, int contextLength, int maxNewTokens) {
    this.tokenizer = tokenizer;
    this.addBos = addBos;
    this.contextLength = contextLength;
    this.maxNewTokens = maxNewTokens;
  }

  /** The ids of {@code text}, named {@code which} in errors. */
  int[] encode(String which, String text) {
    checkArgument(text != null, "%s is null", which);
    int[] ids = tokenizer.encodePrompt(text, addBos);
    if (ids.length == 0) {
      throw new RlhfException(which + " (" + quote(text) + ") encodes to no tokens");
    }
    if (ids.length + maxNewTokens > contextLength) {
      throw new RlhfException(
          which + " (" + quote(text) + ") has " + ids.length + " tokens; with maxNewTokens " + maxNewTokens + " it needs "
              + (ids.length + maxNewTokens) + " positions, more than the context length " + contextLength + " (at most "
              + (contextLength - maxNewTokens) + " prompt tokens fit)");
    }
    return ids;
  }

  /** The ids of a step's prompts; {@code poolIndex[i]} is prompt i's index in the pool, or null for a caller's batch. */
  List<int[]> encode(List<String> prompts, int[] poolIndex) {
    List<int[]> out = new ArrayList<>(prompts.size());
    for (int i = 0; i < prompts.size(); i++) {
      out.add(encode(name(i, poolIndex), prompts.get(i)));
    }
    return out;
  }

  /** Checks every prompt of a pool; returns the longest's token count. */
  int checkPool(List<String> pool) {
    int longest = 0;
    for (int i = 0; i < pool.size(); i++) {
      longest = Math.max(longest, encode("prompt " + i + " of the pool", pool.get(i)).length);
    }
    return longest;
  }

  static String name(int i, int[] poolIndex) {
    return poolIndex == null ? "prompt " + i + " of the batch" : "prompt " + poolIndex[i] + " of the pool";
  }

  static String quote(String text) {
    String t = text.length() > 80 ? text.substring(0, 77) + "..." : text;
    return "\"" + t.replace("\n", "\\n") + "\"";
  }
}
