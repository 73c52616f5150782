package org.rlhf4j.core.model.gpt2;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.tensor.Arena;
import org.rlhf4j.core.tensor.AttentionKernels;
import org.rlhf4j.core.tensor.Blas;
import org.rlhf4j.core.tensor.DecodeKernels;
import org.rlhf4j.core.tensor.NormKernels;
import org.rlhf4j.core.tensor.Parallel;
import org.rlhf4j.core.tensor.PointwiseKernels;
import org.rlhf4j.core.tensor.Tensor;

/**
 * A KV-cached decode step of one sequence (a shard of {@link GptDecodeSession} with one row and
 * several threads) as one parallel region of {@code P} slices per phase, instead of a hand-off per
 * product. Each step has {@code 2L + 1} phases, each of {@code P} slices, the same at every step:
 *
 * <ul>
 *   <li>attention of layer {@code l}, slice {@code s}: a range of heads: their {@code q, k, v =
 *       LN1(x) Wqkv}, their cache rows, their attention and their rows' share of the projection,
 *       {@code y[heads] Wproj[heads, :]}, a partial sum of {@code d} values;
 *   <li>MLP of layer {@code l}, slice {@code s}: a block of the {@code F} columns: {@code fc}, GELU and
 *       the block's share of {@code fc2}, again a partial sum;
 *   <li>the LM head, slice {@code s}: a block of the vocabulary's logits.
 * </ul>
 *
 * <p>The thread that finishes a phase's last slice does the small serial part after it ({@code mid = x
 * + bproj + p_0 + ... + p_{P-1}}, added in that fixed order, and the LayerNorm; or likewise {@code x}
 * and the next LayerNorm) and publishes the next phase. So the logits depend on {@code P} only (not on
 * timing or on which thread ran which slice), and differ from the one-thread step's by float rounding.
 *
 * <p>Threads claim slices rather than own them: the caller and the helpers it finds idle ({@link
 * Parallel#offerHelpers}) each take their own slice of a phase first (slice 0 the caller, slice {@code
 * i} helper {@code i}, so that each core reads the same part of the weights at every step and keeps it
 * in its cache), then any slice nobody has claimed yet. A helper that is late (descheduled on a busy
 * machine, or waking from a park) therefore delays nothing: the caller does its slices, and the step
 * costs at most about the one-thread step; the caller never waits for a helper that holds no slice.
 * The blocks of {@code Wqkv} and {@code Wfc} that a slice reads are packed contiguously at {@link
 * #pack} (the columns of a slice are strided in the weights, which costs a third more time), when
 * these copies ({@code 7 d^2} elements per layer, per session) take at most {@link #packLimitBytes}.
 */
final class TeamDecodeStep implements AutoCloseable {
  /** How long a thread waiting for the next phase spins without yielding its core. */
  private static final long BUSY_SPIN_NANOS = 20_000;
  /** How long it spins (yielding after {@link #BUSY_SPIN_NANOS}) before it sleeps between looks. */
  private static final long YIELD_SPIN_NANOS = 200_000;
  private static final long SLEEP_NANOS = 20_000;
  /** How long a helper waits for the next step before it returns to the pool. */
  private static final long LINGER_NANOS = 50_000;

  private final GptConfig c;
  private final Weights w;
  private final NormKernels norm;
  private final AttentionKernels attn;
  private final DecodeKernels dk;
  private final PointwiseKernels pw;
  private final int parts;
  private final int phases; // 2 per layer and the LM head
  private final int capacity;
  private final double scale;
  private final Arena arena;
  // what the session keeps between steps (shared with its shard)
  private final int[] keyMask; // [capacity]
  private final int[] positions; // [1]
  private final int[] tokens; // [1]
  private final Tensor[] kCache; // per layer [H, capacity, dh]
  private final Tensor[] vCache;
  private final Tensor logits; // [1, V]
  // written by the serial parts, read by the slices
  private Tensor x; // [1, d] the residual stream
  private Tensor mid; // [1, d]
  private Tensor ln; // [1, d] the input of the next phase's products
  private Tensor hat; // [1, d]
  private Tensor rstd; // [1]
  // written by the slices, each its own elements
  private Tensor q; // [H, dh]
  private Tensor att; // [H, dh] = y [1, d]
  private Tensor pre; // [F]
  private Tensor act; // [F]
  private Tensor[] partA; // per slice [d]: its share of y Wproj
  private Tensor[] partB; // per slice [d]: its share of gelu(.) Wfc2
  private Tensor[] qkvLocal; // per slice [3 * w]: the q, k, v columns of its heads (w = its heads * dh)
  private Tensor[][] qkvPacked; // [layer][slice] [d, 3w]: those columns of Wqkv, side by side
  private Tensor[][] fcPacked; // [layer][slice] [d, fw]: the slice's block of Wfc's columns
  // the slices' bounds and views (made once: a step allocates nothing)
  private final int[] h0;
  private final int[] h1;
  private final int[] f0;
  private final int[] f1;
  private final int[] v0;
  private final int[] v1;
  private final Tensor[] qPart;
  private final Tensor[] attPart;
  private final Tensor[][] kPart; // [layer][slice]
  private final Tensor[][] vPart;
  private final Tensor[] prePart;
  private final Tensor[] actPart;
  private final Tensor[][] fcBPart; // [layer][slice]
  // coordination
  /** {@code step * (phases + 1) + phase}: the phase in progress, or {@code phases} once the step is done. */
  private volatile long stage;
  /** Ints per 64-byte cache line: the slots below are that far apart (no false sharing between threads). */
  private static final int PAD = 16;
  /** Per slice of every phase ({@code PAD} apart): the last step that claimed it (each is claimed once per step). */
  private final AtomicIntegerArray claims;
  /**
   * Per slice ({@code PAD} apart): how many threads are in {@link #run} for it (0 or 1, briefly 2 when
   * one claims it for the next phase as another finishes it), so that a failed step can wait for the
   * slices still running.
   */
  private final AtomicIntegerArray running;
  private final AtomicInteger finished = new AtomicInteger(); // slices of the phase in progress done
  private final AtomicReference<Throwable> failure = new AtomicReference<>();
  private volatile boolean broken;
  private final java.util.function.IntConsumer helper = this::help; // made once
  private final AtomicInteger helpersIn = new AtomicInteger(); // helpers in help() (lingering ones included)
  /** For tests: a slice {@code phase * parts + slice} for which this returns true throws instead of running. */
  java.util.function.IntPredicate failSlice;
  private int step; // the caller's step counter
  private int pos; // the position of this step's token (written before the step is published)
  private boolean packed;
  /** Whether {@link #pack} copies the slices' blocks of {@code Wqkv} and {@code Wfc} (else they are read where they lie). */
  private final boolean packs;
  /**
   * The most bytes a session's packed copies of the weights may take (16 MiB: {@code medium}'s 14.7
   * MB, d 256 and 8 layers, packs; d 512 with 8 layers, 59 MB, does not). Making a session costs
   * about 2.5 ms per 15 MB packed here (fresh memory, mostly page faults), and packing saves ~60 µs
   * per step of {@code medium} (~12 µs of {@code small}), so it pays from ~40 steps; at d 512 the
   * step is bound by the LM head and the weights' bandwidth and packing saves nothing measurable,
   * while it would cost ~40 ms per session. Tests change it.
   */
  static volatile long packLimitBytes = 16L << 20;

  /**
   * A step of {@code parts} slices per phase (at most the number of heads) over the given cache;
   * {@code keyMask}, {@code positions} and {@code tokens} are the shard's (one row).
   */
  TeamDecodeStep(GptConfig c, Weights w, DataType type, int parts, int capacity, int[] keyMask, int[] positions, int[] tokens,
      Tensor[] kCache, Tensor[] vCache, Tensor logits) {
    this.c = c;
    this.w = w;
    this.norm = NormKernels.of(type);
    this.attn = AttentionKernels.of(type);
    this.dk = DecodeKernels.of(type);
    this.pw = PointwiseKernels.of(type);
    this.parts = parts;
    this.phases = 2 * c.layers() + 1;
    this.claims = new AtomicIntegerArray(phases * parts * PAD);
    this.running = new AtomicIntegerArray(parts * PAD);
    this.capacity = capacity;
    this.scale = 1.0 / Math.sqrt(c.headDim());
    this.keyMask = keyMask;
    this.positions = positions;
    this.tokens = tokens;
    this.kCache = kCache;
    this.vCache = vCache;
    this.logits = logits;
    int d = c.dModel();
    int f = c.mlpDim();
    int h = c.heads();
    int vocab = c.vocabSize();
    int layers = c.layers();
    this.packs = (long) c.layers() * 7 * d * d * (type == DataType.DOUBLE ? 8 : 4) <= packLimitBytes;
    this.arena = new Arena(type);
    arena.layout(
        a -> {
          x = a.take(1, d);
          mid = a.take(1, d);
          ln = a.take(1, d);
          hat = a.take(1, d);
          rstd = a.take(1);
          q = a.take(h, c.headDim());
          att = a.take(h, c.headDim());
          pre = a.take(f);
          act = a.take(f);
          partA = new Tensor[parts];
          partB = new Tensor[parts];
          qkvLocal = new Tensor[parts];
          qkvPacked = new Tensor[layers][parts];
          fcPacked = new Tensor[layers][parts];
          for (int s = 0; s < parts; s++) { // each its own 64-byte aligned blocks: no false sharing
            partA[s] = a.take(d);
            partB[s] = a.take(d);
            int hw = (h * (s + 1) / parts - h * s / parts) * c.headDim();
            int fw = cut(f, s + 1, parts) - cut(f, s, parts);
            qkvLocal[s] = a.take(3L * hw);
            for (int l = 0; l < layers && packs; l++) {
              qkvPacked[l][s] = a.take(d, 3L * hw);
              fcPacked[l][s] = a.take(d, fw);
            }
          }
        });
    h0 = new int[parts];
    h1 = new int[parts];
    f0 = new int[parts];
    f1 = new int[parts];
    v0 = new int[parts];
    v1 = new int[parts];
    qPart = new Tensor[parts];
    attPart = new Tensor[parts];
    prePart = new Tensor[parts];
    actPart = new Tensor[parts];
    kPart = new Tensor[layers][parts];
    vPart = new Tensor[layers][parts];
    fcBPart = new Tensor[layers][parts];
    for (int s = 0; s < parts; s++) {
      h0[s] = h * s / parts;
      h1[s] = h * (s + 1) / parts;
      f0[s] = cut(f, s, parts);
      f1[s] = cut(f, s + 1, parts);
      v0[s] = cut(vocab, s, parts);
      v1[s] = cut(vocab, s + 1, parts);
      qPart[s] = q.rows(h0[s], h1[s]);
      attPart[s] = att.rows(h0[s], h1[s]);
      prePart[s] = pre.rows(f0[s], f1[s]);
      actPart[s] = act.rows(f0[s], f1[s]);
      for (int l = 0; l < layers; l++) {
        kPart[l][s] = kCache[l].rows(h0[s], h1[s]);
        vPart[l][s] = vCache[l].rows(h0[s], h1[s]);
        fcBPart[l][s] = w.blocks.get(l).fcB().rows(f0[s], f1[s]);
      }
    }
    stage = phases; // step 0, done
  }

  /** Boundary {@code p} of {@code parts} blocks of {@code n} columns: multiples of 16 (64 bytes of floats) but the last. */
  private static int cut(int n, int p, int parts) {
    return p == parts ? n : (int) ((long) n * p / parts) & ~15;
  }

  /** The number of slices per phase. */
  int parts() {
    return parts;
  }

  /**
   * Copies each slice's blocks of the weights ({@code Wqkv}'s columns of its heads, {@code Wfc}'s of
   * its MLP block) into its packed matrices (the slices in parallel, each where it will usually run,
   * so that they start out in that core's cache). Called when the cache is filled ({@link
   * GptDecodeSession#prefill}), so that the steps use the weights the cached keys and values were
   * computed with.
   */
  void pack() {
    if (packs) {
      Parallel.forEach(parts, this::pack);
    }
    packed = true;
  }

  /** Whether the slices read packed copies of their blocks of the weights; for tests. */
  boolean packs() {
    return packs;
  }

  private void pack(int s) {
    int d = c.dModel();
    int c0 = h0[s] * c.headDim();
    int cw = (h1[s] - h0[s]) * c.headDim();
    for (int l = 0; l < c.layers(); l++) {
      Weights.Block b = w.blocks.get(l);
      for (int part = 0; part < 3; part++) {
        dk.copyColumns(b.attnW(), part * d + c0, cw, qkvPacked[l][s], part * cw);
      }
      dk.copyColumns(b.fcW(), f0[s], f1[s] - f0[s], fcPacked[l][s], 0);
    }
  }

  /**
   * Feeds {@code tokens[0]} at position {@code positions[0]}, cache index {@code pos} (the key mask
   * already marks it): appends to the cache and writes the logits.
   *
   * @throws IllegalStateException if the weights are not packed yet, or an earlier step failed (the
   *     cache may then be half written)
   */
  void step(int pos) {
    if (!packed) {
      throw new IllegalStateException("the weights are not packed: fill the cache first");
    }
    if (broken) {
      throw new IllegalStateException("an earlier step failed; the decode session cannot continue", failure.get());
    }
    this.pos = pos;
    int d = c.dModel();
    norm.embed(tokens, positions, w.wte, w.wpe, x, 1, d); // x = wte[token] + wpe[position]
    Weights.Block b0 = w.blocks.get(0);
    norm.layerNorm(x, b0.ln1W(), b0.ln1B(), ln, hat, rstd, 1, d, c.layerNormEps());
    step++;
    long base = (long) step * (phases + 1);
    stage = base; // publishes the step (its inputs above, pos, the cache so far)
    int present = helpersIn.get(); // those lingering since the last step take part anyway
    if (present < parts - 1) {
      Parallel.offerHelpers(parts - 1 - present, helper);
    }
    work(0, base);
    if (broken) {
      for (int s = 0; s < parts; s++) { // no slice may still write to the session's memory when step returns
        while (running.get(s * PAD) != 0) {
          Thread.onSpinWait();
        }
      }
      Throwable e = failure.get();
      if (e instanceof RuntimeException) {
        throw (RuntimeException) e;
      }
      if (e instanceof Error) {
        throw (Error) e;
      }
      throw new IllegalStateException("a slice of the decode step failed", e);
    }
  }

  /**
   * A helper's part of whichever step is in progress (none, if it comes late), and of the steps that
   * follow within {@link #LINGER_NANOS} of each other: a caller that steps again at once may find the
   * helper still busy finishing the last step (then it offers the new one to nobody), so the helper
   * looks for the next step before it returns to the pool.
   */
  private void help(int index) {
    helpersIn.incrementAndGet();
    try {
      helpSteps(index % parts);
    } finally {
      helpersIn.decrementAndGet();
    }
  }

  private void helpSteps(int me) {
    long st = stage;
    while (true) {
      long base = st - st % (phases + 1);
      work(me, base);
      long next = base + phases + 1;
      long start = System.nanoTime();
      int spins = 0;
      while ((st = stage) < next && !broken) {
        if ((++spins & 63) == 0 && System.nanoTime() - start > LINGER_NANOS) {
          return;
        }
        Thread.onSpinWait();
      }
      if (broken) {
        return;
      }
    }
  }

  /**
   * Claims and runs slices of the step starting at {@code base} (its own, {@code me}, first in each
   * phase) until the step is done or has failed.
   */
  private void work(int me, long base) {
    int stepId = (int) (base / (phases + 1));
    long waitStart = 0;
    long waitingFor = -1; // the stage waited for since waitStart
    int spins = 0;
    while (true) {
      long st = stage;
      if (st < base || st >= base + phases || broken) {
        return; // another step (this one is done), or failed
      }
      int ph = (int) (st - base);
      int s = claim(ph, me, stepId);
      if (s >= 0) {
        run(ph, s);
        continue;
      }
      // every slice of this phase is claimed: wait for the others to finish theirs
      if ((++spins & 63) != 0) {
        Thread.onSpinWait();
        continue;
      }
      long now = System.nanoTime();
      if (st != waitingFor) { // the wait is measured per phase: a thread that sleeps would come late to every phase
        waitingFor = st;
        waitStart = now;
      }
      long waited = now - waitStart;
      if (waited >= YIELD_SPIN_NANOS) {
        LockSupport.parkNanos(this, SLEEP_NANOS);
      } else if (waited >= BUSY_SPIN_NANOS) {
        Thread.yield();
      }
    }
  }

  /** Claims slice {@code me} of phase {@code ph} of step {@code stepId}, else any unclaimed one; -1 if none. */
  private int claim(int ph, int me, int stepId) {
    for (int i = 0; i < parts; i++) {
      int s = (me + i) % parts;
      int slot = (ph * parts + s) * PAD;
      if (claims.get(slot) == stepId - 1 && claims.compareAndSet(slot, stepId - 1, stepId)) {
        return s;
      }
    }
    return -1;
  }

  /** Runs slice {@code s} of phase {@code ph}; the last of the phase runs the serial part and publishes the next phase. */
  private void run(int ph, int s) {
    running.incrementAndGet(s * PAD); // before broken is read: a failed step sees this slice running, or it sees broken
    try {
      if (!broken) {
        slice(ph, s);
        if (finished.incrementAndGet() == parts) {
          finished.set(0);
          serial(ph);
          stage = stage + 1; // only this thread can advance it now
        }
      }
    } catch (Throwable e) {
      failure.compareAndSet(null, e);
      broken = true;
    } finally {
      running.decrementAndGet(s * PAD);
    }
  }

  /** Slice {@code s} of phase {@code ph}. */
  private void slice(int ph, int s) {
    if (failSlice != null && failSlice.test(ph * parts + s)) {
      throw new IllegalStateException("slice " + s + " of phase " + ph + " failed (test)");
    }
    int d = c.dModel();
    int l = ph / 2;
    if (l == c.layers()) { // the LM head: logits[v0, v1) = wte[v0, v1) LN_f(x)
      if (v1[s] > v0[s]) {
        dk.rowsTimesVector(w.wte, v0[s], v1[s] - v0[s], d, ln, logits, v0[s]);
      }
      return;
    }
    Weights.Block b = w.blocks.get(l);
    if (ph % 2 == 0) { // attention of these heads, and their share of the projection
      int dh = c.headDim();
      int c0 = h0[s] * dh;
      int cw = (h1[s] - h0[s]) * dh;
      if (packs) { // q, k, v of these heads
        Blas.rowTimesBlock(ln, 0, qkvPacked[l][s], 0, d, 0, 3 * cw, qkvLocal[s], 0, false);
      } else {
        for (int part = 0; part < 3; part++) {
          Blas.rowTimesBlock(ln, 0, b.attnW(), 0, d, part * d + c0, cw, qkvLocal[s], part * cw, false);
        }
      }
      dk.appendKvHeadsPacked(qkvLocal[s], b.attnB(), q, kCache[l], vCache[l], c.heads(), dh, capacity, pos, h0[s], h1[s]);
      attn.attendCached(qPart[s], kPart[l][s], vPart[l][s], keyMask, attPart[s], 1, h1[s] - h0[s], capacity, pos + 1, dh, scale);
      Blas.rowTimesBlock(att, c0, b.projW(), c0, cw, 0, d, partA[s], 0, false); // y[heads] Wproj[heads, :]
    } else { // this block of MLP columns
      int fw = f1[s] - f0[s];
      if (packs) {
        Blas.rowTimesBlock(ln, 0, fcPacked[l][s], 0, d, 0, fw, pre, f0[s], false);
      } else {
        Blas.rowTimesBlock(ln, 0, b.fcW(), 0, d, f0[s], fw, pre, f0[s], false);
      }
      pw.biasGelu(prePart[s], fcBPart[l][s], actPart[s], 1, fw);
      Blas.rowTimesBlock(act, f0[s], b.fc2W(), f0[s], fw, 0, d, partB[s], 0, false); // act[cols] Wfc2[cols, :]
    }
  }

  /** The serial part after phase {@code ph}: the residual sum of its partial sums and the next LayerNorm. */
  private void serial(int ph) {
    int d = c.dModel();
    double eps = c.layerNormEps();
    int l = ph / 2;
    if (l == c.layers()) {
      return;
    }
    Weights.Block b = w.blocks.get(l);
    if (ph % 2 == 0) {
      dk.addPartials(x, b.projB(), partA, mid, d); // mid = x + bproj + y Wproj
      norm.layerNorm(mid, b.ln2W(), b.ln2B(), ln, hat, rstd, 1, d, eps);
    } else {
      dk.addPartials(mid, b.fc2B(), partB, x, d); // x = mid + bfc2 + gelu(.) Wfc2
      if (l + 1 < c.layers()) {
        Weights.Block next = w.blocks.get(l + 1);
        norm.layerNorm(x, next.ln1W(), next.ln1B(), ln, hat, rstd, 1, d, eps);
      } else {
        norm.layerNorm(x, w.lnfW, w.lnfB, ln, hat, rstd, 1, d, eps);
      }
    }
  }

  @Override
  public void close() {
    arena.close();
  }
}
