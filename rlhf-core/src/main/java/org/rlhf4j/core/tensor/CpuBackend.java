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
 * Chooses the BLAS library and its kernels for the CPU at hand, before ND4J loads its native code,
 * and describes the BLAS in use.
 *
 * <p><b>The library.</b> ND4J 1.0.0-M2.1 calls BLAS through JavaCPP's OpenBLAS preset, which loads
 * whichever library the system property {@code org.bytedeco.openblas.load} names (OpenBLAS by
 * default). On an Intel CPU, when Intel oneMKL's libraries are on the classpath ({@code
 * org.bytedeco:mkl:2022.0-1.5.7:linux-x86_64-redist}, which {@code rlhf4j-cpu} brings on Linux
 * x86-64), {@link #configure()} sets that property to {@code mkl_rt}: every product, ND4J's and
 * rlhf4j's direct ones, then runs on MKL's kernels for the CPU (on this project's Xeon 10-26 % faster
 * than OpenBLAS's SkylakeX kernels on the steps' large products, 11-15 % faster training steps). MKL is not chosen on
 * other vendors' CPUs: Intel tunes it for its own, and OpenBLAS's SkylakeX kernels are fast on AMD's
 * (MKL was not measured there). {@code -Drlhf4j.blas=auto|mkl|openblas} overrides the choice; a value
 * of {@code org.bytedeco.openblas.load} the user set is never changed. With MKL it also sets {@code
 * MKL_CBWR=AUTO,STRICT} (unless set), MKL's strict reproducibility mode, in which MKL guarantees
 * results that do not depend on the operands' alignment; and MKL computes single-threaded per call
 * ({@link #makeDirectBlasSingleThreaded}): rlhf4j runs products on its own threads (and with two MKL
 * threads in a call, one-row products' floats did depend on the alignment).
 *
 * <p><b>OpenBLAS's kernels.</b> ND4J bundles OpenBLAS 0.3.19 (a {@code DYNAMIC_ARCH} build), which
 * picks its kernels from the CPU model when it is loaded; processors newer than the library (AMD Zen
 * 5, recent Xeons) get slow generic kernels (a third of the speed measured on a Zen 5). OpenBLAS reads
 * {@code OPENBLAS_CORETYPE} from the process environment at load time, so when OpenBLAS is the
 * library {@link #configure()} sets it (through libc's {@code setenv}) from the CPU's instruction-set
 * flags: {@code SkylakeX} for AVX-512 (F, CD, BW, DQ, VL), {@code Haswell} for AVX2 with FMA, nothing
 * otherwise. A value the user set is never changed; {@code -Drlhf4j.blas.coretype=auto|none|<name>}
 * overrides the choice ({@code none}: leave OpenBLAS's own choice).
 *
 * <p>Both choices act only on Linux x86-64, and only if no BLAS is loaded yet; {@link Blas} then checks
 * the products against a Java reference on first use (see {@link Blas#validation()}). The library calls
 * {@link #configure()} from its entry points ({@code GptModel}, {@code LlamaModel}, {@link Blas});
 * applications that use ND4J before creating a model should call it first thing in {@code main}.
 */
public final class CpuBackend {
  private static final Logger LOG = LoggerFactory.getLogger(CpuBackend.class);
  /** The system property overriding the OpenBLAS core type choice. */
  public static final String PROPERTY = "rlhf4j.blas.coretype";
  /** The system property overriding the BLAS library choice: {@code auto} (default), {@code mkl} or {@code openblas}. */
  public static final String LIBRARY_PROPERTY = "rlhf4j.blas";
  /** JavaCPP's OpenBLAS preset loads the library this system property names instead of OpenBLAS. */
  static final String PRESET_LOAD_PROPERTY = "org.bytedeco.openblas.load";
  /** MKL's single dynamic library in {@code org.bytedeco:mkl}'s {@code linux-x86_64-redist} jar. */
  static final String MKL_RESOURCE = "org/bytedeco/mkl/linux-x86_64/libmkl_rt.so.2";

  /** The BLAS libraries rlhf4j chooses between. */
  enum Library {
    OPENBLAS,
    MKL
  }

  private static String decision = "not configured";
  private static boolean configured;

  private CpuBackend() {}

  /**
   * Chooses the BLAS library and, for OpenBLAS, its core type, where the user has not (idempotent,
   * cheap after the first call).
   *
   * @return a one-line description of what was decided, for logs
   */
  public static synchronized String configure() {
    if (configured) {
      return decision;
    }
    decision = decide(); // may throw for a bad -D value: configured stays false, the next call throws again
    configured = true;
    LOG.debug("BLAS: {}", decision);
    return decision;
  }

  /** Whether this is Linux on x86-64, where rlhf4j chooses the BLAS and its kernels. */
  private static boolean linuxX64() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "");
    return os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64"));
  }

  private static String decide() {
    String userLoad = System.getProperty(PRESET_LOAD_PROPERTY);
    if (userLoad != null && !userLoad.isBlank()) {
      return "BLAS library " + userLoad + " (-D" + PRESET_LOAD_PROPERTY + ")";
    }
    if (linuxX64() && !blasLoaded()) {
      String prop = System.getProperty(LIBRARY_PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
      boolean mklPresent = CpuBackend.class.getClassLoader().getResource(MKL_RESOURCE) != null;
      String vendor = cpuVendor();
      Library lib = libraryFor(prop, vendor, mklPresent);
      Path cache = javacppCacheDir();
      if (lib == Library.MKL && !mklFits(cache, MKL_EXTRACTED_BYTES)) {
        // JavaCPP extracts MKL's libraries on first use; a failed extraction would stop ND4J loading
        // at all (the library is chosen once per process): OpenBLAS, which needs far less, instead.
        LOG.warn("not loading Intel MKL: its libraries need ~{} MB in JavaCPP's cache {}, which has {} MB free; using OpenBLAS",
            MKL_EXTRACTED_BYTES >> 20, cache, usableSpace(cache) >> 20);
        return "OpenBLAS (MKL would not fit in " + cache + "), " + coreTypeDecision();
      }
      if (lib == Library.MKL) {
        System.setProperty(PRESET_LOAD_PROPERTY, "mkl_rt");
        String cbwr = System.getenv("MKL_CBWR");
        if (cbwr == null || cbwr.isEmpty()) {
          // Results independent of the operands' alignment, bit for bit, run after run: MKL
          // guarantees that only in its strict mode (no dependence was measured with one thread
          // per call, but MKL's default mode does not promise it).
          cbwr = setenv("MKL_CBWR", "AUTO,STRICT") ? "AUTO,STRICT" : "default (setenv failed)";
        }
        return "Intel oneMKL (" + (prop.equals("mkl") ? "-D" + LIBRARY_PROPERTY + "=mkl" : "chosen by rlhf4j: " + vendor + " CPU, MKL on the classpath")
            + "), MKL_CBWR=" + cbwr;
      }
      String why = prop.equals("openblas") ? "-D" + LIBRARY_PROPERTY + "=openblas"
          : !mklPresent ? "MKL not on the classpath"
          : "not an Intel CPU: " + vendor;
      return "OpenBLAS (" + why + "), " + coreTypeDecision();
    }
    return coreTypeDecision();
  }

  /**
   * The library for a {@link #LIBRARY_PROPERTY} value ({@code auto}, {@code mkl}, {@code openblas}),
   * CPU vendor ({@code /proc/cpuinfo}'s {@code vendor_id}) and whether MKL is on the classpath: MKL
   * on Intel CPUs (or when asked for) if present, else OpenBLAS.
   *
   * @throws IllegalArgumentException for another property value
   */
  static Library libraryFor(String property, String vendor, boolean mklPresent) {
    switch (property) {
      case "openblas":
        return Library.OPENBLAS;
      case "mkl":
        if (!mklPresent) {
          LOG.warn("-D{}=mkl, but MKL is not on the classpath (org.bytedeco:mkl:2022.0-1.5.7:linux-x86_64-redist): using OpenBLAS", LIBRARY_PROPERTY);
        }
        return mklPresent ? Library.MKL : Library.OPENBLAS;
      case "auto":
      case "":
        return mklPresent && "GenuineIntel".equals(vendor) ? Library.MKL : Library.OPENBLAS;
      default:
        throw new IllegalArgumentException("-D" + LIBRARY_PROPERTY + "=" + property + ": expected auto, mkl or openblas");
    }
  }

  /** What JavaCPP extracts of MKL's libraries on first use (measured: 604 MB), with a margin. */
  static final long MKL_EXTRACTED_BYTES = 700L << 20;

  /**
   * Whether MKL's libraries are already in JavaCPP's cache {@code cacheDir} (a folder named after the
   * {@code mkl-...-redist} jar) or {@code needBytes} fit there.
   */
  static boolean mklFits(Path cacheDir, long needBytes) {
    try (java.util.stream.Stream<Path> entries = Files.list(cacheDir)) {
      if (entries.anyMatch(e -> {
        String n = e.getFileName().toString();
        return n.startsWith("mkl-") && n.contains("redist");
      })) {
        return true;
      }
    } catch (IOException | RuntimeException e) {
      // no cache folder yet: its nearest existing parent's space decides
    }
    return usableSpace(cacheDir) >= needBytes;
  }

  /** Free bytes for {@code dir}, or for its nearest existing parent (0 if none is readable). */
  private static long usableSpace(Path dir) {
    for (Path d = dir.toAbsolutePath(); d != null; d = d.getParent()) {
      if (Files.isDirectory(d)) {
        try {
          return Files.getFileStore(d).getUsableSpace();
        } catch (IOException | RuntimeException e) {
          return 0;
        }
      }
    }
    return 0;
  }

  /** JavaCPP's cache folder: {@code -Dorg.bytedeco.javacpp.cachedir}, else {@code ~/.javacpp/cache}. */
  static Path javacppCacheDir() {
    String dir = System.getProperty("org.bytedeco.javacpp.cachedir");
    return dir != null && !dir.isBlank() ? Path.of(dir) : Path.of(System.getProperty("user.home"), ".javacpp", "cache");
  }

  /** Chooses OpenBLAS's core type (see the class comment); says what was decided. */
  private static String coreTypeDecision() {
    String user = System.getenv("OPENBLAS_CORETYPE");
    if (user != null && !user.isEmpty()) {
      return "OPENBLAS_CORETYPE=" + user + " (set by the environment)";
    }
    String prop = System.getProperty(PROPERTY, "auto").trim();
    if (prop.equalsIgnoreCase("none")) {
      return "OpenBLAS's own choice (-D" + PROPERTY + "=none)";
    }
    if (!linuxX64()) {
      return "OpenBLAS's own choice (not Linux x86-64)";
    }
    if (blasLoaded()) {
      return "OpenBLAS's own choice (OpenBLAS was loaded before rlhf4j could choose; call CpuBackend.configure() first)";
    }
    String type = prop.equalsIgnoreCase("auto") ? coreTypeFor(cpuFlags()) : prop;
    if (type == null) {
      return "OpenBLAS's own choice (no AVX2/FMA)";
    }
    if (!setenv("OPENBLAS_CORETYPE", type)) {
      return "OpenBLAS's own choice (could not set OPENBLAS_CORETYPE)";
    }
    return "OPENBLAS_CORETYPE=" + type + (prop.equalsIgnoreCase("auto") ? " (chosen by rlhf4j from the CPU flags)" : " (-D" + PROPERTY + ")");
  }

  /** Sets a variable of the process environment (libc's {@code setenv}, read by native code); whether it worked. */
  private static boolean setenv(String name, String value) {
    try {
      Function setenv = NativeLibrary.getInstance("c").getFunction("setenv");
      int rc = setenv.invokeInt(new Object[] {name, value, 0});
      if (rc != 0) {
        LOG.warn("setenv({}={}) failed: {}", name, value, rc);
      }
      return rc == 0;
    } catch (RuntimeException | LinkageError e) {
      LOG.warn("could not call setenv for {}={}: {}", name, value, e.toString());
      return false;
    }
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

  /** The first processor's {@code vendor_id} in {@code /proc/cpuinfo} (e.g. {@code GenuineIntel}; "unknown" if unreadable). */
  static String cpuVendor() {
    for (String line : cpuInfo()) {
      if (line.startsWith("vendor_id")) {
        return line.substring(line.indexOf(':') + 1).trim();
      }
    }
    return "unknown";
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
   * The BLAS in use, as the library reports it: for OpenBLAS {@code openblas_get_config()} and {@code
   * openblas_get_corename()} (e.g. {@code "OpenBLAS 0.3.19 DYNAMIC_ARCH NO_AFFINITY SkylakeX
   * MAX_THREADS=64; kernels SkylakeX"}), for MKL its version string and the code branch it runs (e.g.
   * {@code "Intel(R) oneAPI Math Kernel Library Version 2022.0 ...; kernels AVX-512"}); plus how it
   * was chosen. Empty if neither is loaded.
   */
  public static Optional<String> blasDescription() {
    Optional<String> mkl = loadedMkl();
    if (mkl.isPresent()) {
      try {
        NativeLibrary nl = loaded(MKL_SONAME, mkl.get());
        byte[] buf = new byte[256];
        nl.getFunction("MKL_Get_Version_String").invokeVoid(new Object[] {buf, buf.length});
        int end = 0;
        while (end < buf.length && buf[end] != 0) {
          end++;
        }
        String version = new String(buf, 0, end, java.nio.charset.StandardCharsets.US_ASCII).trim();
        int branch = nl.getFunction("MKL_CBWR_Get_Auto_Branch").invokeInt(new Object[0]);
        int cnr = nl.getFunction("MKL_CBWR_Get").invokeInt(new Object[] {-1}); // MKL_CBWR_ALL: the settings in force
        String mode = (cnr & ~MKL_CBWR_STRICT) == 2 ? "AUTO" : mklBranchName(cnr & ~MKL_CBWR_STRICT);
        return Optional.of(version + "; kernels " + mklBranchName(branch) + "; reproducibility mode " + mode
            + ((cnr & MKL_CBWR_STRICT) != 0 ? ",STRICT" : "") + "; " + configure());
      } catch (RuntimeException | LinkageError e) {
        return Optional.of(mkl.get() + " (version unknown: " + e + ")");
      }
    }
    Optional<String> lib = loadedOpenBlas();
    if (lib.isEmpty()) {
      return Optional.empty();
    }
    try {
      NativeLibrary nl = loaded("libopenblas.so.0", lib.get());
      String config = nl.getFunction("openblas_get_config").invokeString(new Object[0], false);
      String core = nl.getFunction("openblas_get_corename").invokeString(new Object[0], false);
      return Optional.of(config.trim() + "; kernels " + core + "; " + configure());
    } catch (RuntimeException | LinkageError e) {
      return Optional.of(lib.get() + " (version unknown: " + e + ")");
    }
  }

  /** {@code MKL_CBWR_STRICT} of {@code mkl_cbwr.h}: results independent of the operands' alignment. */
  private static final int MKL_CBWR_STRICT = 0x10000;

  /** The name of an MKL code branch ({@code MKL_CBWR_Get_Auto_Branch()}, the {@code MKL_CBWR_*} constants of {@code mkl_cbwr.h}). */
  static String mklBranchName(int branch) {
    switch (branch) {
      case 0:
        return "OFF";
      case 1:
        return "BRANCH_OFF";
      case 2: // what MKL 2022.0 reports on an AMD Zen 5, where its sgemm runs at half OpenBLAS's SkylakeX speed
        return "AUTO (MKL names no branch for this CPU)";
      case 3:
        return "compatible";
      case 4:
        return "SSE2";
      case 6:
        return "SSSE3";
      case 7:
        return "SSE4.1";
      case 8:
        return "SSE4.2";
      case 9:
        return "AVX";
      case 10:
        return "AVX2";
      case 11:
        return "AVX-512 (MIC)";
      case 12:
        return "AVX-512";
      case 13:
        return "AVX-512 (MIC, E1)";
      case 14:
        return "AVX-512 (E1)";
      default:
        return "branch " + branch;
    }
  }

  /** Whether the BLAS that {@link Blas} calls directly is Intel MKL (loaded through the preset). */
  static boolean mklLoaded() {
    return loadedMkl().isPresent();
  }

  /**
   * Makes the BLAS that {@link Blas} calls directly single-threaded: rlhf4j runs its products on its
   * own threads (shards, column blocks), and a multi-threaded BLAS called from several threads at once
   * oversubscribes the cores. For OpenBLAS that is its own instance ({@code libopenblas_nolapack}; ND4J's
   * is left as ND4J configured it). MKL is one library for both: one thread per call by default, and
   * {@link #mklOneThreadOnThisThread()} overrides any per-thread setting (ND4J sets one on the thread
   * that starts it) on each thread that calls it.
   *
   * @return whether it was done
   */
  static boolean makeDirectBlasSingleThreaded() {
    Optional<String> mkl = loadedMkl();
    Optional<String> lib = mkl.isPresent() ? mkl : loadedLibrary("libopenblas_nolapack");
    if (lib.isEmpty()) {
      return false;
    }
    try {
      if (mkl.isPresent()) {
        NativeLibrary nl = loaded(MKL_SONAME, mkl.get());
        nl.getFunction("MKL_Set_Num_Threads").invokeVoid(new Object[] {1});
        mklSetLocalThreads = nl.getFunction("MKL_Set_Num_Threads_Local");
        mklOneThreadOnThisThread();
      } else {
        loaded("libopenblas_nolapack.so.0", lib.get()).getFunction("openblas_set_num_threads").invokeVoid(new Object[] {1});
      }
      return true;
    } catch (RuntimeException | LinkageError e) {
      LOG.warn("could not set the BLAS thread count to 1: products may oversubscribe the cores", e);
      return false;
    }
  }

  /** MKL's {@code MKL_Set_Num_Threads_Local} when MKL is the BLAS (set once, before products run), else null. */
  private static volatile Function mklSetLocalThreads;

  private static final ThreadLocal<Boolean> MKL_ONE_THREAD = new ThreadLocal<>();

  /**
   * With MKL, sets the calling thread's MKL thread count to 1, once per thread (a thread-local
   * setting overrides the global one, and ND4J sets one on the thread that loads it); nothing with
   * OpenBLAS. {@link Blas} calls it before its products.
   */
  static void mklOneThreadOnThisThread() {
    Function f = mklSetLocalThreads;
    if (f != null && MKL_ONE_THREAD.get() == null) {
      f.invokeInt(new Object[] {1});
      MKL_ONE_THREAD.set(Boolean.TRUE);
    }
  }

  /**
   * Runs {@code body} on this thread with the direct BLAS using {@code threads} threads inside each
   * product it computes (MKL: this thread's own setting; OpenBLAS: its global count, so no other
   * thread may run products meanwhile), then sets the count back to 1, as the library runs; for
   * measurements such as the machine's best GEMM rate with the BLAS's own threads. Returns false,
   * without running {@code body}, where the count cannot be set (no direct BLAS loaded).
   */
  public static boolean withBlasThreads(int threads, Runnable body) {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    }
    // Loads the BLAS and makes it single-threaded, if it is not yet; outside this class's lock, which
    // Blas's first use takes while holding its own.
    Blas.validation();
    synchronized (CpuBackend.class) {
      return withLoadedBlasThreads(threads, body);
    }
  }

  private static boolean withLoadedBlasThreads(int threads, Runnable body) {
    Optional<String> mkl = loadedMkl();
    Optional<String> lib = mkl.isPresent() ? mkl : loadedLibrary("libopenblas_nolapack");
    if (lib.isEmpty()) {
      return false;
    }
    Function set = mkl.isPresent()
        ? loaded(MKL_SONAME, mkl.get()).getFunction("MKL_Set_Num_Threads_Local")
        : loaded("libopenblas_nolapack.so.0", lib.get()).getFunction("openblas_set_num_threads");
    mklOneThreadOnThisThread(); // so that Blas does not set it back to 1 inside body
    setThreads(set, mkl.isPresent(), threads);
    try {
      body.run();
    } finally {
      setThreads(set, mkl.isPresent(), 1);
    }
    return true;
  }

  private static void setThreads(Function set, boolean mkl, int threads) {
    if (mkl) {
      set.invokeInt(new Object[] {threads});
    } else {
      set.invokeVoid(new Object[] {threads});
    }
  }

  /** MKL's thread count for a call from this thread ({@code MKL_Get_Max_Threads()}; -1 without MKL); for tests. */
  static int mklMaxThreadsHere() {
    Optional<String> mkl = loadedMkl();
    return mkl.isEmpty() ? -1 : loaded(MKL_SONAME, mkl.get()).getFunction("MKL_Get_Max_Threads").invokeInt(new Object[0]);
  }

  /**
   * A loaded library, opened by the name it was loaded under ({@code soname}: the dynamic loader
   * returns the instance in memory, even if its file in JavaCPP's cache has since been replaced),
   * else by its path in {@code /proc/self/maps}.
   */
  private static NativeLibrary loaded(String soname, String path) {
    try {
      return NativeLibrary.getInstance(soname);
    } catch (UnsatisfiedLinkError e) {
      return NativeLibrary.getInstance(path.replace(" (deleted)", ""));
    }
  }

  private static final String MKL_SONAME = "libmkl_rt.so.2";

  /**
   * The kernels ({@code openblas_get_corename()}, e.g. {@code "SkylakeX"}) of the OpenBLAS instance
   * that {@link Blas} calls directly ({@code libopenblas_nolapack}); empty if it is not loaded, is MKL
   * or does not say.
   */
  static Optional<String> directBlasCoreName() {
    Optional<String> lib = loadedLibrary("libopenblas_nolapack");
    if (lib.isEmpty() || mklLoaded()) {
      return Optional.empty();
    }
    try {
      return Optional.of(loaded("libopenblas_nolapack.so.0", lib.get()).getFunction("openblas_get_corename").invokeString(new Object[0], false).trim());
    } catch (RuntimeException | LinkageError e) {
      LOG.debug("could not read OpenBLAS's core name", e);
      return Optional.empty();
    }
  }

  /** Whether a BLAS library (OpenBLAS, or MKL in its place) is loaded already. */
  private static boolean blasLoaded() {
    return loadedOpenBlas().isPresent() || loadedMkl().isPresent();
  }

  /** The path of the loaded {@code libopenblas} that ND4J links, from {@code /proc/self/maps}. */
  private static Optional<String> loadedOpenBlas() {
    Optional<String> main = loadedLibrary("libopenblas.so");
    return main.isPresent() ? main : loadedLibrary("libopenblas");
  }

  /** The path of the loaded {@code libmkl_rt}, from {@code /proc/self/maps}. */
  private static Optional<String> loadedMkl() {
    return loadedLibrary("libmkl_rt.so");
  }

  /** The path of a loaded library whose file name starts with {@code prefix} (and is a .so). */
  private static Optional<String> loadedLibrary(String prefix) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/maps"), java.nio.charset.StandardCharsets.ISO_8859_1)) {
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
      return Files.readAllLines(Path.of("/proc/cpuinfo"), java.nio.charset.StandardCharsets.ISO_8859_1);
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }
}
