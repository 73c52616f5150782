package org.rlhf4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** {@code <|endoftext|>} inside text: literal by default, the special id when allowed. */
class SpecialTokensTest {
  @Test
  void literalByDefaultSpecialIdWhenAllowed() {
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.of(TinyBpe.vocab(), TinyBpe.merges());
    int eot = tok.eosId();
    String text = "hello<|endoftext|> world";
    int[] literal = tok.encode(text, SpecialTokens.LITERAL);
    assertArrayEquals(tok.encode(text), literal);
    assertFalse(Arrays.stream(literal).anyMatch(id -> id == eot), Arrays.toString(literal));
    assertEquals(text, tok.decode(literal));
    int[] allowed = tok.encode(text, SpecialTokens.ALLOW);
    int[] hello = tok.encode("hello");
    int[] world = tok.encode(" world");
    int[] expected = new int[hello.length + 1 + world.length];
    System.arraycopy(hello, 0, expected, 0, hello.length);
    expected[hello.length] = eot;
    System.arraycopy(world, 0, expected, hello.length + 1, world.length);
    assertArrayEquals(expected, allowed);
    assertEquals(text, tok.decode(allowed, false));
  }
}
