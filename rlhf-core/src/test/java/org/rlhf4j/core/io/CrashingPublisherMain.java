package org.rlhf4j.core.io;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Starts {@link AtomicFiles#publishDirectory} of {@code args[0]}, writes a 1 MB file into the
 * staging directory, prints {@code STAGING <path>} and waits to be killed; run by {@link
 * AtomicFilesTest} to leave what a {@code kill -9} during a save leaves.
 */
public final class CrashingPublisherMain {
  private CrashingPublisherMain() {}

  public static void main(String[] args) throws Exception {
    AtomicFiles.publishDirectory(
        Path.of(args[0]),
        staging -> {
          Files.write(staging.resolve("model.safetensors"), new byte[1 << 20]);
          System.out.println("STAGING " + staging);
          System.out.flush();
          try {
            Thread.sleep(Long.MAX_VALUE);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        });
  }
}
