package org.rlhf4j.core.tokenizer;

import com.google.common.base.Preconditions;
import java.nio.charset.StandardCharsets;

/**
 * The simplest tokenizer, for tiny models trained from scratch: ids 0..255 are the bytes of the
 * text's UTF-8 encoding, then three specials: {@link #BOS} = 256, {@link #EOS} = 257 and {@link
 * #PAD} = 258 (vocabulary size 259).
 *
 * <p>{@code decode(encode(s)).equals(s)} for every valid UTF-16 string. A lone surrogate cannot be
 * written as UTF-8 and is encoded as U+FFFD; byte sequences that are not valid UTF-8 decode with
 * U+FFFD for each malformed sequence, like Python's {@code errors="replace"}. Special tokens are
 * written as {@code <|bos|>}, {@code <|eos|>} and {@code <|pad|>} when not skipped; {@link #encode}
 * never produces them.
 *
 * <p>Stateless, so immutable and thread-safe; get the single instance with {@link #create()}.
 */
public final class ByteTokenizer implements Tokenizer {
  /** The id that starts a sequence. */
  public static final int BOS = 256;

  /** The id that ends a sequence. */
  public static final int EOS = 257;

  /** The id used for padding. */
  public static final int PAD = 258;

  /** The number of ids: 256 bytes and 3 specials. */
  public static final int VOCAB_SIZE = 259;

  private static final ByteTokenizer INSTANCE = new ByteTokenizer();
  private static final byte[][] SPECIAL_TEXT = {
    "<|bos|>".getBytes(StandardCharsets.UTF_8),
    "<|eos|>".getBytes(StandardCharsets.UTF_8),
    "<|pad|>".getBytes(StandardCharsets.UTF_8),
  };

  private ByteTokenizer() {}

  /** The byte tokenizer (a shared instance: it has no state). */
  public static ByteTokenizer create() {
    return INSTANCE;
  }

  /** {@inheritDoc} One id per UTF-8 byte, each in {@code [0, 256)}. */
  @Override
  public int[] encode(String text) {
    Preconditions.checkNotNull(text, "text");
    byte[] bytes = Utf8.encode(text);
    int[] ids = new int[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      ids[i] = bytes[i] & 0xFF;
    }
    return ids;
  }

  /**
   * {@inheritDoc} Unskipped specials are written as {@code <|bos|>}, {@code <|eos|>}, {@code
   * <|pad|>}.
   */
  @Override
  public String decode(int[] ids, boolean skipSpecialTokens) {
    Preconditions.checkNotNull(ids, "ids");
    int n = 0;
    for (int id : ids) {
      checkId(id);
      n += id < 256 ? 1 : skipSpecialTokens ? 0 : SPECIAL_TEXT[id - 256].length;
    }
    byte[] buf = new byte[n];
    int j = 0;
    for (int id : ids) {
      if (id < 256) {
        buf[j++] = (byte) id;
      } else if (!skipSpecialTokens) {
        byte[] text = SPECIAL_TEXT[id - 256];
        System.arraycopy(text, 0, buf, j, text.length);
        j += text.length;
      }
    }
    return Utf8.decode(buf, n);
  }

  /** {@inheritDoc} Always {@value #VOCAB_SIZE}. */
  @Override
  public int vocabSize() {
    return VOCAB_SIZE;
  }

  /** {@inheritDoc} Always {@value #BOS}. */
  @Override
  public int bosId() {
    return BOS;
  }

  /** {@inheritDoc} Always {@value #EOS}. */
  @Override
  public int eosId() {
    return EOS;
  }

  /** {@inheritDoc} Always {@value #PAD}. */
  @Override
  public int padId() {
    return PAD;
  }

  /**
   * {@inheritDoc} True for 256..258.
   *
   * @throws IllegalArgumentException if {@code id} is outside {@code [0, 259)}
   */
  @Override
  public boolean isSpecial(int id) {
    checkId(id);
    return id >= 256;
  }

  /** {@inheritDoc} {@code byte-level(259)}. */
  @Override
  public String describe() {
    return "byte-level(" + VOCAB_SIZE + ")";
  }

  /** {@link #describe()}. */
  @Override
  public String toString() {
    return describe();
  }

  private static void checkId(int id) {
    Preconditions.checkArgument(
        id >= 0 && id < VOCAB_SIZE, "token id %s is outside [0, %s)", id, VOCAB_SIZE);
  }
}
