package org.rlhf4j.spark;

import static com.google.common.base.Preconditions.checkNotNull;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.tokenizer.Tokenizers;

/**
 * A tokenizer as bytes for a Spark broadcast: the files {@link Tokenizers#save} writes, each as its
 * name and content (big-endian lengths, after a magic and a count); {@link #toTokenizer} writes
 * them to a temporary directory and reads it with {@link Tokenizers#load}. Only tokenizers that
 * {@link Tokenizers#canSave} can travel.
 */
public final class TokenizerBytes {
  private static final int MAGIC = 0x524c544b; // "RLTK"

  private TokenizerBytes() {}

  /** The files of {@code tokenizer} as one byte array. */
  public static byte[] of(Tokenizer tokenizer) {
    checkNotNull(tokenizer, "tokenizer");
    Path dir = null;
    try {
      dir = Files.createTempDirectory("rlhf4j-tokenizer");
      Tokenizers.save(tokenizer, dir);
      List<Path> files;
      try (Stream<Path> s = Files.list(dir)) {
        files = s.sorted().toList();
      }
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (DataOutputStream out = new DataOutputStream(bytes)) {
        out.writeInt(MAGIC);
        out.writeInt(files.size());
        for (Path f : files) {
          byte[] content = Files.readAllBytes(f);
          out.writeUTF(f.getFileName().toString());
          out.writeInt(content.length);
          out.write(content);
        }
      }
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serialise tokenizer " + tokenizer.describe() + ": " + e.getMessage(), e);
    } finally {
      deleteTree(dir);
    }
  }

  /** The tokenizer of {@link #of}'s bytes. */
  public static Tokenizer toTokenizer(byte[] bytes) {
    checkNotNull(bytes, "bytes");
    Path dir = null;
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      if (bytes.length < 8 || in.readInt() != MAGIC) {
        throw new RlhfException("not a broadcast tokenizer (" + bytes.length + " bytes without the RLTK magic)");
      }
      int n = in.readInt();
      if (n < 1 || n > 64) {
        throw new RlhfException("a broadcast tokenizer with " + n + " files (expected 1 to 64)");
      }
      dir = Files.createTempDirectory("rlhf4j-tokenizer");
      List<String> names = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        String name = in.readUTF();
        if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.startsWith(".")) {
          throw new RlhfException("a broadcast tokenizer has a bad file name \"" + name + "\"");
        }
        int len = in.readInt();
        if (len < 0 || len > in.available()) {
          throw new RlhfException("a broadcast tokenizer's file " + name + " says " + len + " bytes; "
              + in.available() + " are left");
        }
        Files.write(dir.resolve(name), in.readNBytes(len));
        names.add(name);
      }
      return Tokenizers.load(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the broadcast tokenizer: " + e.getMessage(), e);
    } finally {
      deleteTree(dir);
    }
  }

  private static void deleteTree(Path dir) {
    if (dir == null) {
      return;
    }
    try (Stream<Path> s = Files.list(dir)) {
      s.forEach(ModelBytes::deleteQuietly);
    } catch (IOException ignored) {
      // best effort: a temporary directory
    }
    ModelBytes.deleteQuietly(dir);
  }
}
