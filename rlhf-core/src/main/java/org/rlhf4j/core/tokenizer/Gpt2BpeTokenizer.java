package org.rlhf4j.core.tokenizer;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.rlhf4j.core.RlhfException;

/**
 * GPT-2's byte-level BPE tokenizer, read from the usual files with no Python: {@code vocab.json} +
 * {@code merges.txt}, the original {@code encoder.json} + {@code vocab.bpe}, or a Hugging Face
 * {@code tokenizer.json}. Gives the same ids as OpenAI's {@code encoder.py}, tiktoken's {@code
 * gpt2} and Hugging Face's {@code GPT2Tokenizer}.
 *
 * <p>Encoding splits the text into GPT-2's pre-tokens (a hand-written scanner equivalent to the
 * regex {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}, see
 * {@link Gpt2PreTokenizer}), writes each piece's UTF-8 bytes as byte-level symbols and applies the
 * merges, lowest rank first. The ids of each piece are kept in a bounded, lock-free cache (most
 * text repeats its words; see {@link PieceCache}), and the merge loop works on {@code int} ids,
 * with an O(n log n) path for long pieces.
 *
 * <p>Measured encoding throughput on {@code tinyshakespeare.txt} (1.1 MB of ASCII, 338,025 tokens;
 * one thread, JIT warmed up, MB of UTF-8 input per second of the thread's CPU time, on a busy
 * shared 2-core machine): about <b>20-24 MB/s</b> with an empty piece cache and about <b>31-38
 * MB/s</b> once the cache holds the corpus's pieces (medians of 10 rounds in each of several runs;
 * see {@code Gpt2ThroughputMain} in the tests). Loading GPT-2's files takes about a second.
 *
 * <p>Special tokens: every vocabulary token that is neither a single byte nor the result of a merge
 * can never come out of BPE and is special; for GPT-2 that is exactly {@code <|endoftext|>} (id
 * 50256), which is the BOS, the EOS and (since padded positions are always masked) the PAD id.
 * {@link #encode} treats special-token text such as {@code "<|endoftext|>"} in its input as plain
 * text, so user text cannot inject control tokens; {@link #encodeAllowingSpecials} maps it to the
 * special ids.
 *
 * <p>Round trip: {@code decode(encode(s)).equals(s)} for every string {@code s} that is valid
 * UTF-16 (any Unicode text: emoji, combining marks, CJK, {@code \r\n}, tabs, NBSP, ...). A lone
 * surrogate cannot be written as UTF-8; it is encoded as U+FFFD (the replacement character), so it
 * decodes as U+FFFD. Decoding ids whose bytes are not valid UTF-8 (e.g. a prefix of a multi-byte
 * character) gives U+FFFD for each malformed sequence, like Python's {@code errors="replace"}.
 *
 * <p>Immutable and thread-safe (its only mutable state is the cache, which does not change
 * results).
 */
public final class Gpt2BpeTokenizer implements Tokenizer {
  /** GPT-2's end-of-text token, used as BOS, EOS and PAD. */
  public static final String END_OF_TEXT = "<|endoftext|>";

  /**
   * Pre-tokens longer than this many characters are merged in consecutive chunks of this length
   * (so a 10 MB "word" takes linear time and bounded memory). Shorter ones, i.e. all natural
   * text, are encoded exactly as by GPT-2; for a longer one the ids may differ from transformers'
   * at the chunk boundaries.
   */
  public static final int MAX_PIECE_CHARS = 1 << 15;

  private final BpeVocabulary vocab;
  private final int eos;
  private final Pattern specialPattern;
  private final PieceCache cache = new PieceCache();

  /**
   * One BPE merge rule: the tokens {@code left} and {@code right} (in byte-level spelling) join
   * into {@code left + right}.
   *
   * @param left the first token, non-empty
   * @param right the second token, non-empty
   */
  public record Merge(String left, String right) {
    /** Checks that both tokens are non-empty. */
    public Merge {
      Preconditions.checkArgument(
          left != null && !left.isEmpty(), "merge with an empty left token");
      Preconditions.checkArgument(
          right != null && !right.isEmpty(), "merge with an empty right token");
    }

    /** The merge as a line of {@code merges.txt}, quoted: {@code "Ġ t"}. */
    @Override
    public String toString() {
      return BpeVocabulary.quote(left + " " + right);
    }
  }

  private Gpt2BpeTokenizer(BpeVocabulary vocab, String source) {
    this.vocab = vocab;
    Integer eosId = vocab.specials.get(END_OF_TEXT);
    if (eosId == null) {
      throw new RlhfException(
          source + ": no special token " + END_OF_TEXT + " (it is missing, or merges produce it)");
    }
    this.eos = eosId;
    this.specialPattern =
        Pattern.compile(
            vocab.specials.keySet().stream()
                .sorted(Comparator.comparingInt(String::length).reversed())
                .map(Pattern::quote)
                .collect(Collectors.joining("|")));
  }

  /**
   * The tokenizer in {@code dir}, from the first of: {@code vocab.json} + {@code merges.txt},
   * {@code encoder.json} + {@code vocab.bpe}, {@code tokenizer.json}.
   *
   * @throws RlhfException if none of these is there, or (as DataFormatException) a file is
   *     malformed
   */
  public static Gpt2BpeTokenizer fromDirectory(Path dir) {
    Preconditions.checkNotNull(dir, "dir");
    if (Files.isRegularFile(dir.resolve("vocab.json"))
        && Files.isRegularFile(dir.resolve("merges.txt"))) {
      return fromVocabAndMerges(dir.resolve("vocab.json"), dir.resolve("merges.txt"));
    }
    if (Files.isRegularFile(dir.resolve("encoder.json"))
        && Files.isRegularFile(dir.resolve("vocab.bpe"))) {
      return fromEncoderAndVocabBpe(dir.resolve("encoder.json"), dir.resolve("vocab.bpe"));
    }
    if (Files.isRegularFile(dir.resolve("tokenizer.json"))) {
      return fromTokenizerJson(dir.resolve("tokenizer.json"));
    }
    String present;
    try (Stream<Path> files = Files.list(dir)) {
      present =
          files.map(p -> p.getFileName().toString()).sorted().collect(Collectors.joining(", "));
    } catch (IOException e) {
      throw new RlhfException(
          "no GPT-2 tokenizer in " + dir + ": cannot list the directory: " + e, e);
    }
    throw new RlhfException(
        "no GPT-2 tokenizer in "
            + dir
            + ": expected vocab.json + merges.txt, encoder.json + vocab.bpe"
            + " or tokenizer.json; found ["
            + present
            + "]");
  }

  /**
   * The tokenizer of a Hugging Face {@code vocab.json} (token to id) and {@code merges.txt}.
   *
   * @throws RlhfException if a file is missing, or (as DataFormatException) malformed
   */
  public static Gpt2BpeTokenizer fromVocabAndMerges(Path vocabJson, Path mergesTxt) {
    Preconditions.checkNotNull(vocabJson, "vocabJson");
    Preconditions.checkNotNull(mergesTxt, "mergesTxt");
    Map<String, Integer> v = BpeFiles.readVocab(vocabJson);
    BpeFiles.MergeList m = BpeFiles.readMerges(mergesTxt);
    return new Gpt2BpeTokenizer(
        BpeVocabulary.build(v, vocabJson.toString(), m.merges(), mergesTxt.toString(), m.lines()),
        vocabJson.toString());
  }

  /**
   * The tokenizer of OpenAI's original {@code encoder.json} and {@code vocab.bpe} (the same formats
   * as {@code vocab.json} and {@code merges.txt}).
   *
   * @throws RlhfException if a file is missing, or (as DataFormatException) malformed
   */
  public static Gpt2BpeTokenizer fromEncoderAndVocabBpe(Path encoderJson, Path vocabBpe) {
    return fromVocabAndMerges(encoderJson, vocabBpe);
  }

  /**
   * The tokenizer of a Hugging Face {@code tokenizer.json} with a BPE model; its {@code
   * added_tokens} join the vocabulary.
   *
   * @throws RlhfException if the file is missing, or (as DataFormatException) malformed
   */
  public static Gpt2BpeTokenizer fromTokenizerJson(Path tokenizerJson) {
    Preconditions.checkNotNull(tokenizerJson, "tokenizerJson");
    HfTokenizerJson.Model m = HfTokenizerJson.read(tokenizerJson);
    String src = tokenizerJson.toString();
    return new Gpt2BpeTokenizer(BpeVocabulary.build(m.vocab(), src, m.merges(), src, null), src);
  }

  /**
   * The tokenizer of an in-memory vocabulary (token to id, byte-level spelling, specials such as
   * {@code <|endoftext|>} literally) and merges (highest priority first).
   *
   * @throws RlhfException if they do not form a valid byte-level BPE vocabulary with {@code
   *     <|endoftext|>}
   */
  public static Gpt2BpeTokenizer of(Map<String, Integer> vocab, List<Merge> merges) {
    Preconditions.checkNotNull(vocab, "vocab");
    Preconditions.checkNotNull(merges, "merges");
    return new Gpt2BpeTokenizer(
        BpeVocabulary.build(vocab, "<vocabulary>", merges, "<merges>", null), "<vocabulary>");
  }

  /**
   * {@inheritDoc} Special-token text in {@code text} (e.g. {@code "<|endoftext|>"}) is encoded as
   * plain text, unlike transformers, which maps it to the special id; see {@link #encode(String,
   * SpecialTokens)} for the choice.
   */
  @Override
  public int[] encode(String text) {
    Preconditions.checkNotNull(text, "text");
    IntBuffer out = new IntBuffer(text.length() / 3 + 1);
    encodeOrdinary(text, 0, text.length(), out);
    return out.toArray();
  }

  /**
   * The ids of {@code text}, with special-token text inside it either encoded literally ({@link
   * SpecialTokens#LITERAL}, the same as {@link #encode(String)}) or mapped to the special ids
   * ({@link SpecialTokens#ALLOW}, as transformers does and as {@link #encodeAllowingSpecials}).
   */
  public int[] encode(String text, SpecialTokens specials) {
    Preconditions.checkNotNull(specials, "specials");
    return specials == SpecialTokens.ALLOW ? encodeAllowingSpecials(text) : encode(text);
  }

  /**
   * The ids of {@code text} where each occurrence of a special token's text (e.g. {@code
   * <|endoftext|>}) becomes that token's id and the rest is encoded as by {@link #encode}. Use only
   * for trusted text such as prompt templates.
   */
  public int[] encodeAllowingSpecials(String text) {
    Preconditions.checkNotNull(text, "text");
    IntBuffer out = new IntBuffer(text.length() / 3 + 1);
    Matcher m = specialPattern.matcher(text);
    int pos = 0;
    while (m.find()) {
      encodeOrdinary(text, pos, m.start(), out);
      out.add(vocab.specials.get(m.group()));
      pos = m.end();
    }
    encodeOrdinary(text, pos, text.length(), out);
    return out.toArray();
  }

  private void encodeOrdinary(String text, int start, int end, IntBuffer out) {
    for (int pos = start; pos < end; ) {
      int pieceEnd = Gpt2PreTokenizer.pieceEnd(text, pos, end);
      if (pieceEnd - pos > MAX_PIECE_CHARS) {
        // A pathological "word" (megabytes without a space): merge it in bounded chunks so that
        // time and memory stay linear in its length. Natural text never gets here.
        for (int c = pos; c < pieceEnd; c = chunkEnd(text, c, pieceEnd)) {
          int[] ids = bpe(text.substring(c, chunkEnd(text, c, pieceEnd)));
          out.addAll(ids, 0, ids.length);
        }
        pos = pieceEnd;
        continue;
      }
      int hash = PieceCache.hash(text, pos, pieceEnd);
      if (!cache.appendIfPresent(text, pos, pieceEnd, hash, out)) {
        String piece = text.substring(pos, pieceEnd);
        int[] ids = bpe(piece);
        cache.put(piece, hash, ids);
        out.addAll(ids, 0, ids.length);
      }
      pos = pieceEnd;
    }
  }

  /**
   * The end of the chunk of a long pre-token starting at {@code start}: {@link #MAX_PIECE_CHARS}
   * characters on, moved back one so as not to split a surrogate pair, or {@code end}.
   */
  static int chunkEnd(String text, int start, int end) {
    if (end - start <= MAX_PIECE_CHARS) {
      return end;
    }
    int cut = start + MAX_PIECE_CHARS;
    return Character.isHighSurrogate(text.charAt(cut - 1)) ? cut - 1 : cut;
  }

  /** The ids of one pre-token. */
  private int[] bpe(String piece) {
    byte[] bytes = Utf8.encode(piece);
    int[] symbols = new int[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      symbols[i] = vocab.byteIds[bytes[i] & 0xFF];
    }
    return vocab.table.apply(symbols);
  }

  /**
   * {@inheritDoc} Special tokens that are not skipped are written as their literal text, e.g.
   * {@code <|endoftext|>}.
   */
  @Override
  public String decode(int[] ids, boolean skipSpecialTokens) {
    Preconditions.checkNotNull(ids, "ids");
    int n = 0;
    for (int id : ids) {
      Preconditions.checkArgument(
          id >= 0 && id < vocab.tokens.length,
          "token id %s is outside [0, %s)",
          id,
          vocab.tokens.length);
      if (!(skipSpecialTokens && vocab.special[id])) {
        n += vocab.bytes[id].length;
      }
    }
    byte[] buf = new byte[n];
    int j = 0;
    for (int id : ids) {
      if (!(skipSpecialTokens && vocab.special[id])) {
        byte[] b = vocab.bytes[id];
        System.arraycopy(b, 0, buf, j, b.length);
        j += b.length;
      }
    }
    return Utf8.decode(buf, n);
  }

  /** {@inheritDoc} 50257 for GPT-2. */
  @Override
  public int vocabSize() {
    return vocab.tokens.length;
  }

  /** {@inheritDoc} For GPT-2, {@code <|endoftext|>} (50256), the same as {@link #eosId()}. */
  @Override
  public int bosId() {
    return eos;
  }

  /** {@inheritDoc} The id of {@code <|endoftext|>} (50256 for GPT-2). */
  @Override
  public int eosId() {
    return eos;
  }

  /**
   * {@inheritDoc} GPT-2 has no padding token; this is {@link #eosId()}, which is safe because
   * padded positions are always masked out.
   */
  @Override
  public int padId() {
    return eos;
  }

  /**
   * {@inheritDoc}
   *
   * @throws IllegalArgumentException if {@code id} is outside {@code [0, vocabSize())}
   */
  @Override
  public boolean isSpecial(int id) {
    Preconditions.checkArgument(
        id >= 0 && id < vocab.tokens.length,
        "token id %s is outside [0, %s)",
        id,
        vocab.tokens.length);
    return vocab.special[id];
  }

  /** {@inheritDoc} {@code gpt2-bpe(50257)} for GPT-2. */
  @Override
  public String describe() {
    return "gpt2-bpe(" + vocabSize() + ")";
  }

  /** {@link #describe()}. */
  @Override
  public String toString() {
    return describe();
  }

  /**
   * The token of {@code id}: byte-level spelling (e.g. {@code Ġthe}) for ordinary tokens, the
   * literal text for special ones.
   *
   * @throws IllegalArgumentException if {@code id} is outside {@code [0, vocabSize())}
   */
  public String token(int id) {
    Preconditions.checkArgument(
        id >= 0 && id < vocab.tokens.length,
        "token id %s is outside [0, %s)",
        id,
        vocab.tokens.length);
    return vocab.tokens[id];
  }

  /** Every token and its id, in id order (what {@code vocab.json} holds). */
  public ImmutableMap<String, Integer> vocabulary() {
    return vocab.ids;
  }

  /** The merges, highest priority (lowest rank) first (what {@code merges.txt} holds). */
  public ImmutableList<Merge> merges() {
    return vocab.merges;
  }

  /** The special tokens and their ids, in id order. */
  public ImmutableMap<String, Integer> specialTokens() {
    return vocab.specials;
  }

  /**
   * The ids of {@code text} computed the slow, obvious way: regex pre-tokenisation, no cache; for
   * tests of the scanner, the cache and the merge loop.
   */
  int[] encodeUncached(String text) {
    IntBuffer out = new IntBuffer(16);
    Matcher m = Gpt2PreTokenizer.PATTERN.matcher(text);
    while (m.find()) {
      int[] ids = bpe(text.substring(m.start(), m.end()));
      out.addAll(ids, 0, ids.length);
    }
    return out.toArray();
  }
}
