package org.rlhf4j.core.model;

import static com.google.common.base.Preconditions.checkArgument;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.RlhfException;

/**
 * Up-front estimates of the native memory a batch needs, so that a configuration that cannot fit is
 * refused before anything is allocated (instead of growing until the kernel kills the process).
 * {@link #activationBytes} asks the model ({@link CausalLm#activationBytes}) what buffers its forward
 * and backward pass keeps; {@link #limitBytes()} is the machine's (or container's) physical
 * memory, or the system property {@value #LIMIT_PROPERTY} when set. The estimates are lower bounds:
 * the check refuses what certainly cannot fit, it does not promise that what passes fits.
 */
public final class MemoryEstimate {
  /** A system property (bytes) that replaces the physical-memory limit. */
  public static final String LIMIT_PROPERTY = "rlhf4j.memory.limit";

  private MemoryEstimate() {}

  /** Bytes per element of {@code type}. */
  public static long elementBytes(DataType type) {
    return type.width();
  }

  /**
   * The activations and backward scratch of a forward/backward pass of {@code model} over {@code
   * batch} sequences of {@code length} tokens (saturating at {@link Long#MAX_VALUE}).
   */
  public static long activationBytes(CausalLm model, long batch, long length) {
    checkArgument(batch >= 0 && length >= 0, "batch and length must be >= 0, got %s and %s", batch, length);
    return model.activationBytes(batch, length);
  }

  /** The key/value cache and scratch of a {@link DecodeSession} of {@code batch} sequences of {@code capacity} positions. */
  public static long decodeCacheBytes(CausalLm model, long batch, long capacity) {
    return model.decodeCacheBytes(batch, capacity);
  }

  /** {@code model}'s parameter count times {@code copies} (weights, gradients, optimiser moments), in bytes. */
  public static long parameterBytes(CausalLm model, int copies) {
    return saturate((double) model.parameters().layout().totalSize() * copies * elementBytes(model.dataType()));
  }

  /**
   * The memory available to the process: {@value #LIMIT_PROPERTY} if set, else the physical memory
   * of the machine (or the container's limit, as the JVM reports it).
   */
  public static long limitBytes() {
    String prop = System.getProperty(LIMIT_PROPERTY);
    if (prop != null) {
      try {
        long v = Long.parseLong(prop.trim());
        checkArgument(v > 0, "system property %s must be a positive number of bytes, got %s", LIMIT_PROPERTY, prop);
        return v;
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("system property " + LIMIT_PROPERTY + " must be a number of bytes, got " + prop, e);
      }
    }
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      long total = os.getTotalMemorySize();
      if (total > 0) {
        return total;
      }
    }
    return Long.MAX_VALUE;
  }

  private static String limitSource() {
    return System.getProperty(LIMIT_PROPERTY) != null ? "the limit set by -D" + LIMIT_PROPERTY : "the physical memory";
  }

  /**
   * Refuses (with {@link RlhfException}) work that needs more than {@link #limitBytes()}: the
   * message names {@code what}, the estimate, the limit and {@code advice}.
   */
  public static void check(String what, long bytes, String advice) {
    long limit = limitBytes();
    if (bytes > limit) {
      throw new RlhfException(
          what + " needs about " + human(bytes) + " of memory for activations and buffers (estimate), more than "
              + limitSource() + " (" + human(limit) + "); " + advice);
    }
  }

  /** {@code bytes} in GB/MB/KB with three significant digits. */
  public static String human(long bytes) {
    if (bytes == Long.MAX_VALUE) {
      return "more than 9.2e18 bytes";
    }
    double b = bytes;
    if (b >= 1e12) {
      return String.format(Locale.ROOT, "%.3g TB", b / 1e12);
    }
    if (b >= 1e9) {
      return String.format(Locale.ROOT, "%.3g GB", b / 1e9);
    }
    if (b >= 1e6) {
      return String.format(Locale.ROOT, "%.3g MB", b / 1e6);
    }
    return String.format(Locale.ROOT, "%.3g KB", b / 1e3);
  }

  /** {@code bytes} as a long, saturating at {@link Long#MAX_VALUE}. */
  public static long saturate(double bytes) {
    return bytes >= 9.2e18 ? Long.MAX_VALUE : (long) bytes;
  }
}
