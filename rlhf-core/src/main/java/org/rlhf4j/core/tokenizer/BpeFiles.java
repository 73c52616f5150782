package org.rlhf4j.core.tokenizer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.data.LineReader;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer.Merge;

/**
 * Reads and writes the two files of a GPT-2 / Hugging Face byte-level BPE tokenizer: {@code
 * vocab.json} (alias {@code encoder.json}), a JSON object from token to id, and {@code merges.txt}
 * (alias {@code vocab.bpe}), one merge {@code "left right"} a line after a {@code #version} line.
 */
final class BpeFiles {
  /** Jackson, failing on duplicate keys (a duplicate token would silently drop an id otherwise). */
  static final ObjectMapper JSON =
      new ObjectMapper(
          JsonFactory.builder()
              .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
              .build());

  /** The merges read from a file, each with its 1-based line. */
  record MergeList(List<Merge> merges, long[] lines) {}

  private BpeFiles() {}

  /**
   * Reads a {@code vocab.json}: a JSON object from token to non-negative integer id.
   *
   * @throws DataFormatException for a malformed file (naming the line and token), a duplicate token
   *     or a duplicate id
   * @throws RlhfException if the file is missing or unreadable
   */
  static Map<String, Integer> readVocab(Path file) {
    String src = file.toString();
    Map<String, Integer> vocab = new LinkedHashMap<>();
    Map<Integer, String> byId = new HashMap<>();
    try (JsonParser p = JSON.getFactory().createParser(file.toFile())) {
      JsonToken t = p.nextToken();
      if (t != JsonToken.START_OBJECT) {
        throw new DataFormatException(
            src, line(p), "expected a JSON object from token to id, got " + t);
      }
      while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
        String token = p.currentName();
        JsonToken v = p.nextToken();
        if (v != JsonToken.VALUE_NUMBER_INT
            || p.getNumberType() != JsonParser.NumberType.INT
            || p.getIntValue() < 0) {
          throw new DataFormatException(
              src,
              line(p),
              "token "
                  + BpeVocabulary.quote(token)
                  + " (column "
                  + p.currentLocation().getColumnNr()
                  + "): id must be a non-negative integer, got "
                  + describe(p, v));
        }
        int id = p.getIntValue();
        String other = byId.putIfAbsent(id, token);
        if (other != null) {
          throw new DataFormatException(
              src,
              line(p),
              "id "
                  + id
                  + " of token "
                  + BpeVocabulary.quote(token)
                  + " is already used by token "
                  + BpeVocabulary.quote(other));
        }
        vocab.put(token, id);
      }
      if (p.nextToken() != null) {
        throw new DataFormatException(
            src, line(p), "unexpected content after the vocabulary object");
      }
    } catch (JsonProcessingException e) {
      throw invalidJson(src, e);
    } catch (IOException e) {
      throw unreadable("vocabulary", file, e);
    }
    if (vocab.isEmpty()) {
      throw new DataFormatException(src, 1, "the vocabulary is empty");
    }
    return vocab;
  }

  /** A JSON syntax error in {@code src}, at the line Jackson reports (0 if unknown). */
  static DataFormatException invalidJson(String src, JsonProcessingException e) {
    return new DataFormatException(
        src, e.getLocation() == null ? 0 : e.getLocation().getLineNr(), "invalid JSON: " + e.getOriginalMessage(), e);
  }

  /**
   * Reads a {@code merges.txt}: an optional {@code #version} first line, then {@code left right}
   * lines; empty lines are ignored.
   *
   * @throws DataFormatException for a line that is not two tokens separated by one space
   * @throws RlhfException if the file is missing or unreadable
   */
  static MergeList readMerges(Path file) {
    String src = file.toString();
    List<Merge> merges = new ArrayList<>();
    long[] lines = new long[1024];
    // A merge is two tokens: a line of 64 Ki characters is already absurd, so a hostile file
    // fails there instead of filling the heap.
    try (LineReader r =
        LineReader.of(Files.newInputStream(file), src, 1 << 16)) {
      for (String line; (line = r.readLine()) != null; ) {
        long lineNo = r.lineNumber();
        if (line.isEmpty() || (lineNo == 1 && line.startsWith("#version"))) {
          continue;
        }
        int space = line.indexOf(' ');
        if (space <= 0 || space == line.length() - 1 || line.indexOf(' ', space + 1) >= 0) {
          throw new DataFormatException(
              src,
              lineNo,
              "expected two tokens separated by one space, got " + BpeVocabulary.quote(line));
        }
        if (merges.size() == lines.length) {
          lines = Arrays.copyOf(lines, lines.length * 2);
        }
        lines[merges.size()] = lineNo;
        merges.add(new Merge(line.substring(0, space), line.substring(space + 1)));
      }
    } catch (CharacterCodingException e) {
      throw new DataFormatException(src, 0, "not valid UTF-8 text", e);
    } catch (IOException e) {
      throw unreadable("merges", file, e);
    }
    return new MergeList(merges, Arrays.copyOf(lines, merges.size()));
  }

  static RlhfException unreadable(String what, Path file, IOException e) {
    if (e instanceof NoSuchFileException || !Files.exists(file)) {
      return new RlhfException("missing " + what + " file " + file, e);
    }
    return new RlhfException("cannot read " + what + " file " + file + ": " + e, e);
  }

  private static String describe(JsonParser p, JsonToken v) throws IOException {
    if (v == JsonToken.VALUE_STRING) {
      return BpeVocabulary.quote(p.getText());
    }
    return v.isScalarValue()
        ? p.getText()
        : v.asString() == null ? v.toString() : v.asString() + "...";
  }

  private static long line(JsonParser p) {
    return p.currentLocation().getLineNr();
  }

  /** The JSON of a {@code vocab.json} for {@code tokens} (index = id), in id order, UTF-8. */
  static byte[] vocabJson(List<String> tokens) {
    Map<String, Integer> ordered = new LinkedHashMap<>();
    for (int id = 0; id < tokens.size(); id++) {
      ordered.put(tokens.get(id), id);
    }
    try {
      return JSON.writeValueAsBytes(ordered);
    } catch (JsonProcessingException e) {
      throw new RlhfException("cannot write the vocabulary as JSON", e);
    }
  }

  /** The text of a Hugging Face {@code merges.txt} ({@code #version: 0.2} first), UTF-8. */
  static byte[] mergesTxt(List<Merge> merges) {
    StringBuilder sb = new StringBuilder("#version: 0.2\n");
    for (Merge m : merges) {
      sb.append(m.left()).append(' ').append(m.right()).append('\n');
    }
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }
}
