package org.rlhf4j.reward.feedback;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Test access to the stores' package-private file seam from other modules' tests: stores whose
 * appends write half a line and then fail like a full disk while {@code failing} is set.
 */
public final class FailingStores {
  private FailingStores() {}

  private static DurableLog.Io io(AtomicBoolean failing) {
    return new DurableLog.Io() {
      @Override
      public int write(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        if (failing.get()) {
          ByteBuffer half = buf.duplicate();
          half.limit(buf.position() + Math.max(1, buf.remaining() / 2));
          int n = ch.write(half, position);
          buf.position(buf.position() + n);
          throw new IOException("No space left on device");
        }
        return ch.write(buf, position);
      }

      @Override
      public void force(FileChannel ch) throws IOException {
        ch.force(false);
      }
    };
  }

  /** A comparison store that fails its appends while {@code failing} is true. */
  public static ComparisonStore comparisonStore(Path file, AtomicBoolean failing) {
    return ComparisonStore.open(file, Clock.systemUTC(), io(failing));
  }

  /** An A/B store that fails its appends while {@code failing} is true. */
  public static AbStore abStore(Path file, AtomicBoolean failing) {
    return AbStore.open(file, Clock.systemUTC(), io(failing));
  }
}
