package org.rlhf4j.core.sft;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.SftExample;
import org.rlhf4j.core.data.TruncationPolicy;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * Tokenized training sequences for {@link SftTrainer}: prompt/completion pairs (loss on the
 * completion only) or windows of a long text (every token counts). Immutable.
 */
public final class SftData {
  private final ImmutableList<TokenizedSequence> sequences;
  private final int dropped;
  private final int truncated;

  private SftData(List<TokenizedSequence> sequences, int dropped) {
    this(sequences, dropped, 0);
  }

  private SftData(List<TokenizedSequence> sequences, int dropped, int truncated) {
    checkArgument(!sequences.isEmpty(), "no training sequences (all %s examples were dropped)", dropped);
    this.sequences = ImmutableList.copyOf(sequences);
    this.dropped = dropped;
    this.truncated = truncated;
  }

  /**
   * Tokenizes prompt/completion pairs as {@code [BOS] prompt completion EOS}, like {@link
   * #fromExamples(List, Tokenizer, int, boolean, boolean)}, with {@code policy} deciding what
   * happens to a pair longer than {@code maxLength}; {@link #truncated()} and {@link #dropped()}
   * count what it did. {@link TruncationPolicy#FAIL} throws {@link RlhfException} naming the example.
   */
  public static SftData fromExamples(
      List<SftExample> examples, Tokenizer tokenizer, int maxLength, boolean addBos, boolean completionOnly, TruncationPolicy policy) {
    checkArgument(maxLength >= 2, "maxLength must be >= 2, got %s", maxLength);
    List<TokenizedSequence> out = new ArrayList<>(examples.size());
    int dropped = 0;
    int truncated = 0;
    for (int i = 0; i < examples.size(); i++) {
      SftExample e = examples.get(i);
      int[] head = tokenizer.encodePrompt(e.prompt(), addBos);
      int[] completion = tokenizer.encode(e.completion());
      int[] tail = Arrays.copyOf(completion, completion.length + 1);
      tail[completion.length] = tokenizer.eosId();
      if (head.length == 0) {
        head = new int[] {tail[0]};
        tail = Arrays.copyOfRange(tail, 1, tail.length);
      }
      Optional<TruncationPolicy.Cut> cut = policy.fit(head.length, tail.length, maxLength);
      if (cut.isEmpty() && policy == TruncationPolicy.FAIL) {
        throw new RlhfException("example " + i + " is " + (head.length + tail.length) + " tokens, longer than the maximum length "
            + maxLength + " (choose a TruncationPolicy other than FAIL to truncate or skip it)");
      }
      if (cut.isEmpty() || cut.get().responseTokens() == 0) {
        dropped++;
        continue;
      }
      int p = cut.get().promptTokens();
      int c = cut.get().responseTokens();
      truncated += cut.get().truncated() ? 1 : 0;
      int[] ids = new int[p + c];
      System.arraycopy(head, head.length - p, ids, 0, p);
      System.arraycopy(tail, 0, ids, p, c);
      int[] mask = new int[ids.length];
      Arrays.fill(mask, completionOnly ? p : 1, ids.length, 1);
      out.add(new TokenizedSequence(ids, mask));
    }
    return new SftData(out, dropped, truncated);
  }

  /** How many examples were shortened to fit (by {@link #fromExamples}). */
  public int truncated() {
    return truncated;
  }

  /**
   * Tokenizes prompt/completion pairs as {@code [BOS] prompt completion EOS}; the completion and EOS
   * are the targets (all tokens when {@code completionOnly} is false). Sequences longer than {@code
   * maxLength} keep the end of the prompt and the start of the completion, the completion getting at
   * least half of the room.
   */
  public static SftData fromExamples(List<SftExample> examples, Tokenizer tokenizer, int maxLength, boolean addBos, boolean completionOnly) {
    return fromExamples(examples, tokenizer, maxLength, addBos, completionOnly, TruncationPolicy.BALANCED);
  }

  /**
   * Cuts a long token stream into consecutive windows of {@code windowLength} tokens (the last,
   * partial one dropped); every token after the first of a window is a target (pre-training).
   */
  public static SftData fromCorpus(int[] tokens, int windowLength) {
    checkArgument(windowLength >= 2, "windowLength must be >= 2, got %s", windowLength);
    checkArgument(tokens.length >= windowLength, "corpus has %s tokens, fewer than one window of %s", tokens.length, windowLength);
    List<TokenizedSequence> out = new ArrayList<>();
    for (int start = 0; start + windowLength <= tokens.length; start += windowLength) {
      int[] ids = Arrays.copyOfRange(tokens, start, start + windowLength);
      int[] mask = new int[windowLength];
      Arrays.fill(mask, 1, windowLength, 1);
      out.add(new TokenizedSequence(ids, mask));
    }
    return new SftData(out, 0);
  }

  /** Wraps already tokenized sequences. */
  public static SftData of(List<TokenizedSequence> sequences) {
    return new SftData(sequences, 0);
  }

  /** The number of sequences. */
  public int size() {
    return sequences.size();
  }

  /** Sequence {@code i}. */
  public TokenizedSequence get(int i) {
    return sequences.get(i);
  }

  /** How many examples were dropped because no completion token fit. */
  public int dropped() {
    return dropped;
  }

  /** The sequences. */
  public ImmutableList<TokenizedSequence> asList() {
    return sequences;
  }

  /** The first {@code n} sequences (or all). */
  public SftData head(int n) {
    return new SftData(sequences.subList(0, Math.min(n, sequences.size())), 0);
  }
}
