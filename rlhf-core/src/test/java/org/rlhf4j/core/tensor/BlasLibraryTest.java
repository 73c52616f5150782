package org.rlhf4j.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The choice between OpenBLAS and Intel MKL ({@link CpuBackend}): the rule, and both libraries at
 * work, each in a child JVM (a process loads one BLAS for good).
 */
class BlasLibraryTest {

  @Test
  void mklOnIntelCpusWhenPresentElseOpenBlas() {
    assertEquals(CpuBackend.Library.MKL, CpuBackend.libraryFor("auto", "GenuineIntel", true));
    assertEquals(CpuBackend.Library.OPENBLAS, CpuBackend.libraryFor("auto", "GenuineIntel", false));
    assertEquals(CpuBackend.Library.OPENBLAS, CpuBackend.libraryFor("auto", "AuthenticAMD", true));
    assertEquals(CpuBackend.Library.OPENBLAS, CpuBackend.libraryFor("auto", "unknown", true));
    assertEquals(CpuBackend.Library.MKL, CpuBackend.libraryFor("mkl", "AuthenticAMD", true)); // asked for
    assertEquals(CpuBackend.Library.OPENBLAS, CpuBackend.libraryFor("mkl", "GenuineIntel", false)); // asked for, absent
    assertEquals(CpuBackend.Library.OPENBLAS, CpuBackend.libraryFor("openblas", "GenuineIntel", true));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CpuBackend.libraryFor("atlas", "GenuineIntel", true));
    assertEquals("-Drlhf4j.blas=atlas: expected auto, mkl or openblas", e.getMessage());
  }

  @Test
  void mklIsChosenOnlyWhereItsLibrariesFit(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
    assertTrue(CpuBackend.mklFits(dir, 1), "1 byte fits");
    assertEquals(false, CpuBackend.mklFits(dir, Long.MAX_VALUE), "no disk is that big");
    assertEquals(false, CpuBackend.mklFits(dir.resolve("not/yet/made"), Long.MAX_VALUE), "a missing cache folder: its parent's space decides");
    assertTrue(CpuBackend.mklFits(dir.resolve("not/yet/made"), 1));
    java.nio.file.Files.createDirectories(dir.resolve("mkl-2022.0-1.5.7-linux-x86_64-redist.jar"));
    assertTrue(CpuBackend.mklFits(dir, Long.MAX_VALUE), "already extracted");
  }

  @Test
  void mklCodeBranchesHaveNames() {
    assertEquals("AVX-512", CpuBackend.mklBranchName(12));
    assertEquals("AVX2", CpuBackend.mklBranchName(10));
    assertEquals("AUTO (MKL names no branch for this CPU)", CpuBackend.mklBranchName(2));
    assertEquals("branch 99", CpuBackend.mklBranchName(99));
  }

  /**
   * The same product of the same numbers, with the operands at different offsets from a 64-byte
   * boundary, gives the same floats: results must not depend on where the allocator put a buffer
   * (with MKL this needs one MKL thread per call, which {@link CpuBackend} sets on every calling
   * thread: with ND4J's two on the thread that loads it, one-row products differed at 3 of 4 offsets).
   */
  @Test
  void productsDoNotDependOnTheOperandsAlignment() {
    Random r = new Random(9);
    // m, k, n: cblas_sgemm's products, MKL's JIT kernels' (P v of a head, a decode step's c_attn; see
    // MklJit) and a one-row gemv
    int[][] shapes = {{64, 128, 384}, {37, 53, 71}, {128, 256, 512}, {1, 128, 512}, {64, 128, 32}, {8, 128, 384}};
    for (int[] s : shapes) {
      int m = s[0];
      int k = s[1];
      int n = s[2];
      float[] av = new float[m * k];
      float[] bv = new float[k * n];
      for (int i = 0; i < av.length; i++) {
        av[i] = (float) r.nextGaussian();
      }
      for (int i = 0; i < bv.length; i++) {
        bv[i] = (float) r.nextGaussian();
      }
      float[] first = null;
      for (int shift = 0; shift < 8; shift++) {
        // operands a few floats past a 64-byte boundary (views of longer aligned buffers)
        Tensor a = aligned(m * k + 16).rows(shift, shift + m * k).reshape(m, k);
        Tensor b = aligned(k * n + 16).rows(8 - shift, 8 - shift + k * n).reshape(k, n);
        Tensor c = aligned(m * n + 16).rows(2 * shift, 2 * shift + m * n).reshape(m, n);
        a.writableFloatBuffer().put(0, av, 0, av.length);
        b.writableFloatBuffer().put(0, bv, 0, bv.length);
        Blas.gemm(a, b, c, false, false);
        float[] got = new float[m * n];
        c.asFloatBuffer().get(0, got, 0, m * n);
        if (first == null) {
          first = got;
        } else {
          for (int i = 0; i < got.length; i++) {
            assertEquals(Float.floatToRawIntBits(first[i]), Float.floatToRawIntBits(got[i]),
                m + "x" + n + "x" + k + " shifted by " + shift + " floats, element " + i + " (" + Blas.validation() + ")");
          }
        }
      }
    }
  }

  private static Tensor aligned(long length) {
    INDArray buf = Nd4j.create(DataType.FLOAT, Tensor.alignedLength(DataType.FLOAT, length));
    return Tensor.of(Tensor.alignedView(buf, length));
  }

  /**
   * In child JVMs: OpenBLAS when asked for, and the automatic choice (MKL on an Intel CPU with MKL
   * on the test classpath, else OpenBLAS) twice. Each passes the start-up check against the Java
   * reference, says which library and kernels it runs, and the two automatic runs train a small
   * GPT to the same losses, bit for bit (nothing depends on where memory was allocated).
   */
  @Test
  void eachLibraryPassesItsCheckAndTrainsReproducibly() throws Exception {
    Map<String, String> openblas = probe("-Drlhf4j.blas=openblas");
    assertTrue(openblas.get("validation").startsWith("DIRECT: direct OpenBLAS calls agree with the Java reference"), openblas.toString());
    assertTrue(openblas.get("description").startsWith("OpenBLAS 0.3.19"), openblas.toString());
    assertTrue(openblas.get("decision").contains("-Drlhf4j.blas=openblas"), openblas.toString());

    boolean mklExpected = "GenuineIntel".equals(CpuBackend.cpuVendor())
        && BlasLibraryTest.class.getClassLoader().getResource(CpuBackend.MKL_RESOURCE) != null
        && System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")
        && CpuBackend.mklFits(CpuBackend.javacppCacheDir(), CpuBackend.MKL_EXTRACTED_BYTES);
    Map<String, String> auto = probe();
    Map<String, String> again = probe();
    if (mklExpected) {
      assertTrue(auto.get("validation").startsWith("DIRECT: direct MKL calls agree with the Java reference"), auto.toString());
      assertTrue(auto.get("description").contains("Math Kernel Library") && auto.get("description").contains("reproducibility mode AUTO,STRICT"),
          auto.toString());
      assertTrue(auto.get("decision").startsWith("Intel oneMKL (chosen by rlhf4j"), auto.toString());
    } else {
      assertTrue(auto.get("validation").startsWith("DIRECT: direct OpenBLAS calls agree"), auto.toString());
    }
    assertEquals(auto.get("losses"), again.get("losses"), "two runs of the same training, same library: same losses");
    if (mklExpected) { // MKL's JIT kernels for small products: on by default, off when asked, the same training up to rounding
      assertTrue(auto.get("validation").contains("(small products: MKL's JIT kernels)"), auto.toString());
      Map<String, String> noJit = probe("-Drlhf4j.blas.jit=false");
      assertTrue(noJit.get("validation").contains("MKL's JIT kernels off (-Drlhf4j.blas.jit=false)"), noJit.toString());
      String[] x = noJit.get("losses").split(",");
      String[] y = auto.get("losses").split(",");
      for (int i = 0; i < 3; i++) {
        double lx = Double.longBitsToDouble(Long.parseLong(x[i]));
        double ly = Double.longBitsToDouble(Long.parseLong(y[i]));
        assertEquals(lx, ly, 1e-5 * lx, "step " + i + " with and without the JIT kernels");
      }
    }
    String[] a = auto.get("losses").split(",");
    String[] o = openblas.get("losses").split(",");
    assertEquals(3, a.length);
    for (int i = 0; i < 3; i++) {
      double la = Double.longBitsToDouble(Long.parseLong(a[i]));
      double lo = Double.longBitsToDouble(Long.parseLong(o[i]));
      assertTrue(Double.isFinite(la) && la > 3 && la < 5, "a loss near ln 64 = 4.16: " + la);
      assertEquals(lo, la, 1e-4 * lo, "step " + i + ": both libraries compute the same training up to rounding");
    }
  }

  private static Map<String, String> probe(String... jvmArgs) throws Exception {
    String text = childJvmOutput(BlasProbeMain.class, jvmArgs);
    Map<String, String> lines = new HashMap<>();
    for (String line : text.split("\n")) {
      int eq = line.indexOf('=');
      String key = eq > 0 ? line.substring(0, eq) : "";
      if (key.equals("decision") || key.equals("validation") || key.equals("description") || key.equals("losses")) {
        lines.put(key, line.substring(eq + 1).strip());
      }
    }
    assertEquals(4, lines.size(), text);
    return lines;
  }

  /**
   * Runs {@code main} in a child JVM on this test classpath (a process loads one BLAS for good), with
   * {@code jvmArgs}; returns its output, once it has exited with status 0.
   */
  static String childJvmOutput(Class<?> main, String... jvmArgs) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(List.of(jvmArgs));
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    p.getInputStream().transferTo(out);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
    String text = out.toString(StandardCharsets.UTF_8);
    assertEquals(0, p.exitValue(), text);
    return text;
  }
}
