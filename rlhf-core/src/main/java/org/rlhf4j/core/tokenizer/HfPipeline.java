package org.rlhf4j.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.rlhf4j.core.data.DataFormatException;

/**
 * The normalizers, pre-tokenizers and decoders of a Hugging Face {@code tokenizer.json}, as far as
 * {@link HfTokenizer} supports them, each following the Rust {@code tokenizers} library (0.23).
 * Every component is immutable. An unsupported component type is a {@link DataFormatException}
 * naming the type and the file.
 */
final class HfPipeline {
  private HfPipeline() {}

  /** Character classes as Rust's {@code onig} regexes see them (Unicode {@code \s}, {@code \w}). */
  static final int REGEX_FLAGS = Pattern.UNICODE_CHARACTER_CLASS;

  // ---------------------------------------------------------------- normalizers

  /** A normalizer: text to text. */
  interface Normalizer {
    String normalize(String s);
  }

  static Normalizer normalizer(JsonNode n, String src, String where) {
    if (n == null || n.isNull() || n.isMissingNode()) {
      return null;
    }
    String type = n.path("type").asText("");
    switch (type) {
      case "Sequence":
        {
          List<Normalizer> parts = new ArrayList<>();
          JsonNode list = n.path("normalizers");
          for (int i = 0; i < list.size(); i++) {
            Normalizer p = normalizer(list.get(i), src, where + ".normalizers[" + i + "]");
            if (p != null) {
              parts.add(p);
            }
          }
          return s -> {
            for (Normalizer p : parts) {
              s = p.normalize(s);
            }
            return s;
          };
        }
      case "Prepend":
        {
          String prepend = text(n, "prepend", src, where);
          return s -> s.isEmpty() ? s : prepend + s;
        }
      case "Replace":
        {
          Pattern p = pattern(n.path("pattern"), src, where + ".pattern");
          String content = text(n, "content", src, where);
          String replacement = Matcher.quoteReplacement(content);
          return s -> p.matcher(s).replaceAll(replacement);
        }
      case "NFC":
        return s -> java.text.Normalizer.normalize(s, java.text.Normalizer.Form.NFC);
      case "NFD":
        return s -> java.text.Normalizer.normalize(s, java.text.Normalizer.Form.NFD);
      case "NFKC":
        return s -> java.text.Normalizer.normalize(s, java.text.Normalizer.Form.NFKC);
      case "NFKD":
        return s -> java.text.Normalizer.normalize(s, java.text.Normalizer.Form.NFKD);
      case "Lowercase":
        return s -> s.toLowerCase(Locale.ROOT);
      case "Strip":
        {
          boolean left = n.path("strip_left").asBoolean(true);
          boolean right = n.path("strip_right").asBoolean(true);
          return s -> left && right ? s.strip() : left ? s.stripLeading() : right ? s.stripTrailing() : s;
        }
      default:
        throw unsupported("normalizer", type, src, where);
    }
  }

  // ---------------------------------------------------------------- pre-tokenizers

  /** A piece of text during pre-tokenization; {@code atStart}: it begins the original text. */
  record Piece(String text, boolean atStart) {}

  /** A pre-tokenizer: splits each piece into pieces, or rewrites it. */
  interface PreTokenizer {
    void apply(Piece piece, List<Piece> out);
  }

  /** The split behaviours of {@code Split} ({@code SplitDelimiterBehavior} in Rust). */
  enum Behavior {
    REMOVED,
    ISOLATED,
    MERGED_WITH_PREVIOUS,
    MERGED_WITH_NEXT,
    CONTIGUOUS
  }

  static PreTokenizer preTokenizer(JsonNode n, String src, String where) {
    if (n == null || n.isNull() || n.isMissingNode()) {
      return null;
    }
    String type = n.path("type").asText("");
    switch (type) {
      case "Sequence":
        {
          List<PreTokenizer> parts = new ArrayList<>();
          JsonNode list = n.path("pretokenizers");
          for (int i = 0; i < list.size(); i++) {
            PreTokenizer p = preTokenizer(list.get(i), src, where + ".pretokenizers[" + i + "]");
            if (p != null) {
              parts.add(p);
            }
          }
          return (piece, out) -> {
            List<Piece> cur = new ArrayList<>();
            cur.add(piece);
            for (PreTokenizer p : parts) {
              List<Piece> next = new ArrayList<>(cur.size() * 2);
              for (Piece c : cur) {
                p.apply(c, next);
              }
              cur = next;
            }
            out.addAll(cur);
          };
        }
      case "Split":
        {
          Pattern p = pattern(n.path("pattern"), src, where + ".pattern");
          Behavior b = behavior(n.path("behavior").asText("Isolated"), src, where);
          boolean invert = n.path("invert").asBoolean(false);
          return (piece, out) -> split(piece, p, b, invert, out);
        }
      case "ByteLevel":
        {
          boolean prefix = n.path("add_prefix_space").asBoolean(true);
          boolean regex = n.path("use_regex").asBoolean(true);
          return (piece, out) -> {
            String s = piece.text();
            if (prefix && !s.startsWith(" ")) {
              s = " " + s;
            }
            if (regex) {
              for (int pos = 0; pos < s.length(); ) {
                int end = Gpt2PreTokenizer.pieceEnd(s, pos, s.length());
                out.add(new Piece(ByteLevel.spell(Utf8.encode(s, pos, end)), piece.atStart() && pos == 0));
                pos = end;
              }
            } else if (!s.isEmpty()) {
              out.add(new Piece(ByteLevel.spell(Utf8.encode(s)), piece.atStart()));
            }
          };
        }
      case "Metaspace":
        {
          String replacement = n.path("replacement").asText("\u2581");
          String scheme = metaspaceScheme(n, src, where);
          boolean split = n.path("split").asBoolean(true);
          Pattern rep = Pattern.compile(Pattern.quote(replacement));
          return (piece, out) -> {
            String s = piece.text().replace(" ", replacement);
            boolean prepend =
                scheme.equals("always") || (scheme.equals("first") && piece.atStart());
            if (prepend && !s.startsWith(replacement)) {
              s = replacement + s;
            }
            Piece p = new Piece(s, piece.atStart());
            if (split) {
              split(p, rep, Behavior.MERGED_WITH_NEXT, false, out);
            } else if (!s.isEmpty()) {
              out.add(p);
            }
          };
        }
      case "Digits":
        {
          boolean individual = n.path("individual_digits").asBoolean(false);
          Pattern p = Pattern.compile(individual ? "\\p{Nd}" : "\\p{Nd}+", REGEX_FLAGS);
          return (piece, out) -> split(piece, p, Behavior.ISOLATED, false, out);
        }
      case "WhitespaceSplit":
        {
          Pattern p = Pattern.compile("\\s+", REGEX_FLAGS);
          return (piece, out) -> split(piece, p, Behavior.REMOVED, false, out);
        }
      case "Whitespace":
        {
          Pattern p = Pattern.compile("\\w+|[^\\w\\s]+", REGEX_FLAGS);
          return (piece, out) -> split(piece, p, Behavior.REMOVED, true, out);
        }
      default:
        throw unsupported("pre_tokenizer", type, src, where);
    }
  }

  private static String metaspaceScheme(JsonNode n, String src, String where) {
    JsonNode scheme = n.path("prepend_scheme");
    if (scheme.isTextual()) {
      String s = scheme.textValue();
      if (!s.equals("always") && !s.equals("first") && !s.equals("never")) {
        throw new DataFormatException(
            src, 1, where + ".prepend_scheme: expected always, first or never, got " + scheme);
      }
      return s;
    }
    return n.path("add_prefix_space").asBoolean(true) ? "always" : "never";
  }

  private static Behavior behavior(String b, String src, String where) {
    switch (b) {
      case "Removed":
        return Behavior.REMOVED;
      case "Isolated":
        return Behavior.ISOLATED;
      case "MergedWithPrevious":
        return Behavior.MERGED_WITH_PREVIOUS;
      case "MergedWithNext":
        return Behavior.MERGED_WITH_NEXT;
      case "Contiguous":
        return Behavior.CONTIGUOUS;
      default:
        throw new DataFormatException(src, 1, where + ".behavior: unknown split behavior \"" + b + "\"");
    }
  }

  /**
   * Splits {@code piece} at the matches of {@code p} as Rust's {@code NormalizedString::split}
   * does; empty parts are dropped.
   */
  static void split(Piece piece, Pattern p, Behavior behavior, boolean invert, List<Piece> out) {
    String s = piece.text();
    if (s.isEmpty()) {
      return;
    }
    // (start, end, isMatch) covering s
    List<int[]> parts = new ArrayList<>();
    Matcher m = p.matcher(s);
    int prev = 0;
    while (m.find()) {
      if (prev != m.start()) {
        parts.add(new int[] {prev, m.start(), invert ? 1 : 0});
      }
      parts.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
      prev = m.end();
    }
    if (prev != s.length()) {
      parts.add(new int[] {prev, s.length(), invert ? 1 : 0});
    }
    List<int[]> spans = new ArrayList<>(parts.size());
    switch (behavior) {
      case ISOLATED:
        spans.addAll(parts);
        break;
      case REMOVED:
        for (int[] x : parts) {
          if (x[2] == 0) {
            spans.add(x);
          }
        }
        break;
      case CONTIGUOUS:
        for (int[] x : parts) {
          int[] last = spans.isEmpty() ? null : spans.get(spans.size() - 1);
          if (last != null && last[2] == 1 && x[2] == 1) {
            last[1] = x[1];
          } else {
            spans.add(x.clone());
          }
        }
        break;
      case MERGED_WITH_PREVIOUS:
        for (int[] x : parts) {
          int[] last = spans.isEmpty() ? null : spans.get(spans.size() - 1);
          if (x[2] == 1 && last != null && last[2] == 0) {
            last[1] = x[1];
            last[2] = 2; // a merged part: nothing more is merged into it
          } else {
            spans.add(x.clone());
          }
        }
        break;
      case MERGED_WITH_NEXT:
        {
          int[] pending = null;
          for (int[] x : parts) {
            if (x[2] == 1) {
              if (pending != null) {
                spans.add(pending);
              }
              pending = x.clone();
            } else if (pending != null) {
              spans.add(new int[] {pending[0], x[1], 0});
              pending = null;
            } else {
              spans.add(x);
            }
          }
          if (pending != null) {
            spans.add(pending);
          }
          break;
        }
      default:
        throw new AssertionError(behavior);
    }
    for (int[] x : spans) {
      if (x[1] > x[0]) {
        out.add(new Piece(s.substring(x[0], x[1]), piece.atStart() && x[0] == 0));
      }
    }
  }

  // ---------------------------------------------------------------- decoders

  /** A decoder step ({@code decode_chain} in Rust): token strings to token strings. */
  interface Decoder {
    List<String> decodeChain(List<String> tokens);
  }

  static Decoder decoder(JsonNode n, String src, String where) {
    if (n == null || n.isNull() || n.isMissingNode()) {
      return null;
    }
    String type = n.path("type").asText("");
    switch (type) {
      case "Sequence":
        {
          List<Decoder> parts = new ArrayList<>();
          JsonNode list = n.path("decoders");
          for (int i = 0; i < list.size(); i++) {
            Decoder d = decoder(list.get(i), src, where + ".decoders[" + i + "]");
            if (d != null) {
              parts.add(d);
            }
          }
          return tokens -> {
            for (Decoder d : parts) {
              tokens = d.decodeChain(tokens);
            }
            return tokens;
          };
        }
      case "ByteLevel":
        return HfPipeline::byteLevelDecode;
      case "Replace":
        {
          Pattern p = pattern(n.path("pattern"), src, where + ".pattern");
          String content = Matcher.quoteReplacement(text(n, "content", src, where));
          return tokens -> {
            List<String> out = new ArrayList<>(tokens.size());
            for (String t : tokens) {
              out.add(p.matcher(t).replaceAll(content));
            }
            return out;
          };
        }
      case "ByteFallback":
        return HfPipeline::byteFallbackDecode;
      case "Fuse":
        return tokens -> List.of(String.join("", tokens));
      case "Strip":
        {
          String content = text(n, "content", src, where);
          if (content.codePointCount(0, content.length()) != 1) {
            throw new DataFormatException(
                src, 1, where + ".content: expected one character, got \"" + content + "\"");
          }
          int c = content.codePointAt(0);
          int start = n.path("start").asInt(0);
          int stop = n.path("stop").asInt(0);
          return tokens -> {
            List<String> out = new ArrayList<>(tokens.size());
            for (String t : tokens) {
              out.add(strip(t, c, start, stop));
            }
            return out;
          };
        }
      case "Metaspace":
        {
          String replacement = n.path("replacement").asText("\u2581");
          boolean stripFirst = !metaspaceScheme(n, src, where).equals("never");
          return tokens -> {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
              // as in Rust: in the first token every replacement character is dropped, not only a
              // leading one (this matters after Fuse, which makes one token of all)
              out.add(tokens.get(i).replace(replacement, i == 0 && stripFirst ? "" : " "));
            }
            return out;
          };
        }
      default:
        throw unsupported("decoder", type, src, where);
    }
  }

  /** Rust's {@code ByteLevel::decode_chain}: one string of the tokens' bytes, lossy UTF-8. */
  static List<String> byteLevelDecode(List<String> tokens) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    for (String t : tokens) {
      byte[] b = ByteLevel.isByteLevel(t) ? ByteLevel.bytesOf(t) : Utf8.encode(t);
      bytes.write(b, 0, b.length);
    }
    byte[] all = bytes.toByteArray();
    return List.of(Utf8.decode(all, all.length));
  }

  /**
   * Rust's {@code ByteFallback::decode_chain}: runs of {@code <0xXX>} tokens become their UTF-8
   * text, or one U+FFFD per byte if the run is not valid UTF-8.
   */
  static List<String> byteFallbackDecode(List<String> tokens) {
    List<String> out = new ArrayList<>(tokens.size());
    ByteArrayOutputStream run = new ByteArrayOutputStream();
    for (String t : tokens) {
      int b = byteToken(t);
      if (b >= 0) {
        run.write(b);
      } else {
        flushBytes(run, out);
        out.add(t);
      }
    }
    flushBytes(run, out);
    return out;
  }

  private static void flushBytes(ByteArrayOutputStream run, List<String> out) {
    if (run.size() == 0) {
      return;
    }
    byte[] b = run.toByteArray();
    String s = Utf8.decode(b, b.length);
    if (s.indexOf('\uFFFD') >= 0 && !Arrays.equals(Utf8.encode(s), b)) {
      for (int i = 0; i < b.length; i++) {
        out.add("\uFFFD");
      }
    } else {
      out.add(s);
    }
    run.reset();
  }

  /** The byte of a {@code <0xXX>} token, or -1. */
  static int byteToken(String t) {
    if (t.length() == 6 && t.startsWith("<0x") && t.charAt(5) == '>') {
      int hi = Character.digit(t.charAt(3), 16);
      int lo = Character.digit(t.charAt(4), 16);
      if (hi >= 0 && lo >= 0) {
        return hi * 16 + lo;
      }
    }
    return -1;
  }

  private static String strip(String t, int c, int start, int stop) {
    int[] cps = t.codePoints().toArray();
    int from = 0;
    for (int i = 0; i < Math.min(start, cps.length) && cps[i] == c; i++) {
      from = i + 1;
    }
    int to = cps.length;
    for (int i = 0; i < Math.min(stop, cps.length) && cps[cps.length - 1 - i] == c; i++) {
      to = cps.length - 1 - i;
    }
    return to <= from ? "" : new String(cps, from, to - from);
  }

  // ---------------------------------------------------------------- helpers

  /** A {@code {"String": s}} or {@code {"Regex": r}} pattern. */
  static Pattern pattern(JsonNode n, String src, String where) {
    if (n.path("String").isTextual()) {
      return Pattern.compile(Pattern.quote(n.get("String").textValue()));
    }
    if (n.path("Regex").isTextual()) {
      String re = n.get("Regex").textValue();
      try {
        return Pattern.compile(re, REGEX_FLAGS | Pattern.UNICODE_CASE);
      } catch (PatternSyntaxException e) {
        throw new DataFormatException(
            src, 1, where + ": the regex cannot be compiled by java.util.regex: " + e.getMessage());
      }
    }
    throw new DataFormatException(
        src, 1, where + ": expected {\"String\": ...} or {\"Regex\": ...}, got " + n);
  }

  private static String text(JsonNode n, String field, String src, String where) {
    JsonNode v = n.path(field);
    if (!v.isTextual()) {
      throw new DataFormatException(
          src, 1, where + "." + field + ": expected a string, got " + v);
    }
    return v.textValue();
  }

  static DataFormatException unsupported(String kind, String type, String src, String where) {
    return new DataFormatException(
        src,
        1,
        where
            + ": unsupported "
            + kind
            + " type \""
            + type
            + "\" (HfTokenizer supports BPE tokenizers with the components listed in its Javadoc)");
  }

}
