package org.rlhf4j.core.tensor;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses OpenBLAS's kernels for the CPU at hand, before ND4J loads its native code, and describes
 * the BLAS in use.
 *
 * <p>ND4J 1.0.0-M2.1 bundles OpenBLAS 0.3.19 (a {@code DYNAMIC_ARCH} build), which picks its kernels
 * from the CPU model when it is loaded; processors newer than the library (AMD Zen 5, recent Xeons)
 * get slow generic kernels (a third of the speed measured on a Zen 5). OpenBLAS reads {@code
 * OPENBLAS_CORETYPE} from the process environment at load time, so {@link #configure()} sets it
 * (through libc's {@code setenv}) from the CPU's instruction-set flags: {@code SkylakeX} for
 * AVX-512 (F, CD, BW, DQ, VL), {@code Haswell} for AVX2 with FMA, nothing otherwise. A value the user
 * set is never changed; {@code -Drlhf4j.blas.coretype=auto|none|<name>} overrides the choice
 * ({@code none}: leave OpenBLAS's own choice). It acts only on Linux x86-64, and only if OpenBLAS
 * is not yet loaded; {@link Blas} then checks the chosen kernels against a Java reference on first use
 * (see {@link Blas#validation()}).
 *
 * <p>The library calls {@link #configure()} from its entry points ({@code GptModel}, {@link Blas});
 * applications that use ND4J before creating a model should call it first thing in {@code main}.
 */
public final class CpuBackend {
  private static final Logger LOG = LoggerFactory.getLogger(CpuBackend.class);
  /** The system property overriding the core type choice. */
  public static final String PROPERTY = "rlhf4j.blas.coretype";

  private static String decision = "not configured";
  private static boolean configured;

  private CpuBackend() {}

  /**
   * Chooses the OpenBLAS core type if the user has not (idempotent, cheap after the first call).
   *
   * @return a one-line description of what was decided, for logs
   */
  public static synchronized String configure() {
    if (configured) {
      return decision;
    }
    configured = true;
    decision = decide();
    LOG.debug("OpenBLAS core type: {}", decision);
    return decision;
  }

  private static String decide() {
    String user = System.getenv("OPENBLAS_CORETYPE");
    if (user != null && !user.isEmpty()) {
      return "OPENBLAS_CORETYPE=" + user + " (set by the environment)";
    }
    String prop = System.getProperty(PROPERTY, "auto").trim();
    if (prop.equalsIgnoreCase("none")) {
      return "OpenBLAS's own choice (-D" + PROPERTY + "=none)";
    }
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "");
    if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
      return "OpenBLAS's own choice (not Linux x86-64)";
    }
    if (openBlasLoaded()) {
      return "OpenBLAS's own choice (OpenBLAS was loaded before rlhf4j could choose; call CpuBackend.configure() first)";
    }
    String type = prop.equalsIgnoreCase("auto") ? coreTypeFor(cpuFlags()) : prop;
    if (type == null) {
      return "OpenBLAS's own choice (no AVX2/FMA)";
    }
    try {
      Function setenv = NativeLibrary.getInstance("c").getFunction("setenv");
      int rc = setenv.invokeInt(new Object[] {"OPENBLAS_CORETYPE", type, 0});
      if (rc != 0) {
        return "OpenBLAS's own choice (setenv failed: " + rc + ")";
      }
    } catch (RuntimeException | LinkageError e) {
      return "OpenBLAS's own choice (could not call setenv: " + e + ")";
    }
    return "OPENBLAS_CORETYPE=" + type + (prop.equalsIgnoreCase("auto") ? " (chosen by rlhf4j from the CPU flags)" : " (-D" + PROPERTY + ")");
  }

  /** The OpenBLAS core type for a CPU with these {@code /proc/cpuinfo} flags, or {@code null}. */
  static String coreTypeFor(Set<String> flags) {
    if (flags.containsAll(List.of("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"))) {
      return "SkylakeX";
    }
    if (flags.containsAll(List.of("avx2", "fma"))) {
      return "Haswell";
    }
    return null;
  }

  /** The flags of the first processor in {@code /proc/cpuinfo} (empty if unreadable). */
  static Set<String> cpuFlags() {
    Set<String> flags = new HashSet<>();
    for (String line : cpuInfo()) {
      if (line.startsWith("flags")) {
        int colon = line.indexOf(':');
        for (String f : line.substring(colon + 1).trim().split("\\s+")) {
          flags.add(f);
        }
        break;
      }
    }
    return flags;
  }

  /** The CPU's model name (from {@code /proc/cpuinfo}; the architecture elsewhere) and core count. */
  public static String cpuDescription() {
    String model = System.getProperty("os.arch");
    for (String line : cpuInfo()) {
      if (line.startsWith("model name")) {
        model = line.substring(line.indexOf(':') + 1).trim();
        break;
      }
    }
    Set<String> f = cpuFlags();
    String isa = f.contains("avx512f") ? "AVX-512" : f.contains("avx2") ? "AVX2" : "no AVX2";
    return model + ", " + isa + ", " + Runtime.getRuntime().availableProcessors() + " processors";
  }

  /**
   * The OpenBLAS in use, as {@code openblas_get_config()} and {@code openblas_get_corename()} report
   * it (e.g. {@code "OpenBLAS 0.3.19 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64; kernels
   * SkylakeX"}), plus how the core type was chosen; empty if OpenBLAS is not loaded.
   */
  public static Optional<String> blasDescription() {
    Optional<String> lib = loadedOpenBlas();
    if (lib.isEmpty()) {
      return Optional.empty();
    }
    try {
      NativeLibrary nl = NativeLibrary.getInstance(lib.get());
      String config = nl.getFunction("openblas_get_config").invokeString(new Object[0], false);
      String core = nl.getFunction("openblas_get_corename").invokeString(new Object[0], false);
      return Optional.of(config.trim() + "; kernels " + core + "; " + configure());
    } catch (RuntimeException | LinkageError e) {
      return Optional.of(lib.get() + " (version unknown: " + e + ")");
    }
  }

  /**
   * Makes the OpenBLAS instance that {@link Blas} calls directly ({@code libopenblas_nolapack})
   * single-threaded: rlhf4j runs its products on its own threads (shards, column blocks), and a
   * multi-threaded BLAS called from several threads at once oversubscribes the cores. ND4J's own
   * instance is left as ND4J configured it.
   *
   * @return whether it was done
   */
  static boolean makeDirectBlasSingleThreaded() {
    Optional<String> lib = loadedLibrary("libopenblas_nolapack");
    if (lib.isEmpty()) {
      return false;
    }
    try {
      NativeLibrary.getInstance(lib.get()).getFunction("openblas_set_num_threads").invokeVoid(new Object[] {1});
      return true;
    } catch (RuntimeException | LinkageError e) {
      LOG.debug("could not set OpenBLAS's thread count", e);
      return false;
    }
  }

  /**
   * The kernels ({@code openblas_get_corename()}, e.g. {@code "SkylakeX"}) of the OpenBLAS instance
   * that {@link Blas} calls directly ({@code libopenblas_nolapack}); empty if it is not loaded or does
   * not say.
   */
  static Optional<String> directBlasCoreName() {
    Optional<String> lib = loadedLibrary("libopenblas_nolapack");
    if (lib.isEmpty()) {
      return Optional.empty();
    }
    try {
      return Optional.of(NativeLibrary.getInstance(lib.get()).getFunction("openblas_get_corename").invokeString(new Object[0], false).trim());
    } catch (RuntimeException | LinkageError e) {
      LOG.debug("could not read OpenBLAS's core name", e);
      return Optional.empty();
    }
  }

  private static boolean openBlasLoaded() {
    return loadedOpenBlas().isPresent();
  }

  /** The path of the loaded {@code libopenblas} that ND4J links, from {@code /proc/self/maps}. */
  private static Optional<String> loadedOpenBlas() {
    Optional<String> main = loadedLibrary("libopenblas.so");
    return main.isPresent() ? main : loadedLibrary("libopenblas");
  }

  /** The path of a loaded library whose file name starts with {@code prefix} (and is a .so). */
  private static Optional<String> loadedLibrary(String prefix) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
        int slash = line.indexOf('/');
        if (slash >= 0) {
          String path = line.substring(slash);
          String name = path.substring(path.lastIndexOf('/') + 1);
          if (name.startsWith(prefix) && name.contains(".so")) {
            return Optional.of(path);
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux, or no procfs
    }
    return Optional.empty();
  }

  private static List<String> cpuInfo() {
    try {
      return Files.readAllLines(Path.of("/proc/cpuinfo"));
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }
}
