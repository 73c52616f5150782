package org.rlhf4j.core.model.gpt2;

import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.tensor.Arena;
import org.rlhf4j.core.tensor.AttentionKernels;
import org.rlhf4j.core.tensor.Blas;
import org.rlhf4j.core.tensor.DecodeKernels;
import org.rlhf4j.core.tensor.NormKernels;
import org.rlhf4j.core.tensor.Parallel;
import org.rlhf4j.core.tensor.PointwiseKernels;
import org.rlhf4j.core.tensor.TeamBarrier;
import org.rlhf4j.core.tensor.Tensor;

/**
 * A KV-cached decode step of one sequence (a shard of {@link GptDecodeSession} with one row and
 * several threads) as ONE parallel region of {@code P} threads ({@link Parallel#team}), instead of a
 * hand-off per product: each participant owns fixed slices of the work, the same at every step (so
 * each core keeps the same part of the weights in its cache):
 *
 * <ul>
 *   <li>a range of heads: their columns of {@code q, k, v = LN1(x) Wqkv}, their cache rows, their
 *       attention and their rows' share of the projection, {@code y[heads] Wproj[heads, :]}, a partial
 *       sum of {@code d} values;
 *   <li>a block of the {@code F} MLP columns: {@code fc}, GELU and the block's share of {@code fc2},
 *       again a partial sum;
 *   <li>a block of the vocabulary: those logits of the tied LM head.
 * </ul>
 *
 * One barrier after each partial sum (two per layer). The small serial parts are computed by every
 * participant itself, into its own buffers: the embedding, {@code mid = x + bproj + p_0 + ... + p_{P-1}}
 * and {@code out} likewise (added in that fixed order), and the LayerNorms. Identical arithmetic on
 * identical inputs gives every participant identical values, so no further barrier is needed, and the
 * logits depend on {@code P} only (not on timing); they differ from the one-thread step's by float
 * rounding (the partial sums are added in another order).
 */
final class TeamDecodeStep implements AutoCloseable {
  private final GptConfig c;
  private final Weights w;
  private final NormKernels norm;
  private final AttentionKernels attn;
  private final DecodeKernels dk;
  private final PointwiseKernels pw;
  private final int parts;
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
  // shared scratch, each participant writing its own elements only
  private Tensor q; // [H, dh]
  private Tensor att; // [H, dh] = y [1, d]
  private Tensor pre; // [F]
  private Tensor act; // [F]
  private Tensor[] partA; // per participant [d]: its share of y Wproj
  private Tensor[] partB; // per participant [d]: its share of gelu(.) Wfc2
  // per participant
  private final int[] h0;
  private final int[] h1;
  private final int[] f0;
  private final int[] f1;
  private final int[] v0;
  private final int[] v1;
  private Tensor[] x; // [1, d] the residual stream (every participant its own, identical copy)
  private Tensor[] mid; // [1, d]
  private Tensor[] ln; // [1, d]
  private Tensor[] hat; // [1, d]
  private Tensor[] rstd; // [1]
  private Tensor[] qkvLocal; // [3 * w]: the q, k, v columns of the participant's heads (w = its heads * dh)
  private Tensor[][] qkvPacked; // [layer][participant] [d, 3w]: those columns of Wqkv, side by side
  private Tensor[][] fcPacked; // [layer][participant] [d, fw]: the participant's block of Wfc's columns
  private final Tensor[] qPart;
  private final Tensor[] attPart;
  private final Tensor[][] kPart; // [layer][participant]
  private final Tensor[][] vPart;
  private final Tensor[] prePart;
  private final Tensor[] actPart;
  private final Tensor[][] fcBPart; // [layer][participant]
  private final Parallel.TeamBody body = this::run; // made once: a step allocates nothing
  private final Parallel.TeamBody packBody = this::pack;
  private boolean packed;
  private int pos; // the position of this step's token (written by the caller before the team starts)

  /**
   * A step of {@code parts} participants (at most the number of heads) over the given cache;
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
    this.arena = new Arena(type);
    arena.layout(
        a -> {
          q = a.take(h, c.headDim());
          att = a.take(h, c.headDim());
          pre = a.take(f);
          act = a.take(f);
          partA = new Tensor[parts];
          partB = new Tensor[parts];
          x = new Tensor[parts];
          mid = new Tensor[parts];
          ln = new Tensor[parts];
          hat = new Tensor[parts];
          rstd = new Tensor[parts];
          qkvLocal = new Tensor[parts];
          qkvPacked = new Tensor[layers][parts];
          fcPacked = new Tensor[layers][parts];
          for (int p = 0; p < parts; p++) { // each its own 64-byte aligned block: no false sharing
            partA[p] = a.take(d);
            partB[p] = a.take(d);
            x[p] = a.take(1, d);
            mid[p] = a.take(1, d);
            ln[p] = a.take(1, d);
            hat[p] = a.take(1, d);
            rstd[p] = a.take(1);
            int hw = (h * (p + 1) / parts - h * p / parts) * c.headDim();
            int fw = cut(f, p + 1, parts) - cut(f, p, parts);
            qkvLocal[p] = a.take(3L * hw);
            for (int l = 0; l < layers; l++) {
              qkvPacked[l][p] = a.take(d, 3L * hw);
              fcPacked[l][p] = a.take(d, fw);
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
    for (int p = 0; p < parts; p++) {
      h0[p] = h * p / parts;
      h1[p] = h * (p + 1) / parts;
      f0[p] = cut(f, p, parts);
      f1[p] = cut(f, p + 1, parts);
      v0[p] = cut(vocab, p, parts);
      v1[p] = cut(vocab, p + 1, parts);
      qPart[p] = q.rows(h0[p], h1[p]);
      attPart[p] = att.rows(h0[p], h1[p]);
      prePart[p] = pre.rows(f0[p], f1[p]);
      actPart[p] = act.rows(f0[p], f1[p]);
      for (int l = 0; l < layers; l++) {
        kPart[l][p] = kCache[l].rows(h0[p], h1[p]);
        vPart[l][p] = vCache[l].rows(h0[p], h1[p]);
        fcBPart[l][p] = w.blocks.get(l).fcB().rows(f0[p], f1[p]);
      }
    }
  }

  /** Boundary {@code p} of {@code parts} blocks of {@code n} columns: multiples of 16 (64 bytes of floats) but the last. */
  private static int cut(int n, int p, int parts) {
    return p == parts ? n : (int) ((long) n * p / parts) & ~15;
  }

  /** The number of participants. */
  int parts() {
    return parts;
  }

  /**
   * Copies each participant's blocks of the weights ({@code Wqkv}'s columns of its heads, {@code
   * Wfc}'s of its MLP block) into its packed matrices, each on the participant's own thread (so that
   * they start out in that core's cache); a step reads them instead of the strided blocks of the
   * weights. Called when the cache is filled ({@link GptDecodeSession#prefill}), so that the steps
   * use the weights the cached keys and values were computed with.
   */
  void pack() {
    Parallel.team(parts, packBody);
    packed = true;
  }

  private void pack(int p, TeamBarrier barrier) {
    int d = c.dModel();
    int c0 = h0[p] * c.headDim();
    int cw = (h1[p] - h0[p]) * c.headDim();
    for (int l = 0; l < c.layers(); l++) {
      Weights.Block b = w.blocks.get(l);
      for (int s = 0; s < 3; s++) {
        dk.copyColumns(b.attnW(), s * d + c0, cw, qkvPacked[l][p], s * cw);
      }
      dk.copyColumns(b.fcW(), f0[p], f1[p] - f0[p], fcPacked[l][p], 0);
    }
  }

  /**
   * Feeds {@code tokens[0]} at position {@code positions[0]}, cache index {@code pos} (the key mask
   * already marks it): appends to the cache and writes the logits.
   */
  void step(int pos) {
    if (!packed) {
      throw new IllegalStateException("the weights are not packed: fill the cache first");
    }
    this.pos = pos;
    Parallel.team(parts, body);
  }

  /** Participant {@code p}'s share of a step. */
  private void run(int p, TeamBarrier barrier) {
    int d = c.dModel();
    int h = c.heads();
    int dh = c.headDim();
    double eps = c.layerNormEps();
    int c0 = h0[p] * dh;
    int cw = (h1[p] - h0[p]) * dh;
    int fw = f1[p] - f0[p];
    int length = pos + 1;
    Tensor xp = x[p];
    Tensor midp = mid[p];
    Tensor lnp = ln[p];
    norm.embed(tokens, positions, w.wte, w.wpe, xp, 1, d); // x = wte[token] + wpe[position]
    for (int l = 0; l < c.layers(); l++) {
      Weights.Block b = w.blocks.get(l);
      // --- attention of this participant's heads, and their share of the projection
      norm.layerNorm(xp, b.ln1W(), b.ln1B(), lnp, hat[p], rstd[p], 1, d, eps);
      Blas.rowTimesBlock(lnp, 0, qkvPacked[l][p], 0, d, 0, 3 * cw, qkvLocal[p], 0, false); // q, k, v of these heads
      dk.appendKvHeadsPacked(qkvLocal[p], b.attnB(), q, kCache[l], vCache[l], h, dh, capacity, pos, h0[p], h1[p]);
      attn.attendCached(qPart[p], kPart[l][p], vPart[l][p], keyMask, attPart[p], 1, h1[p] - h0[p], capacity, length, dh, scale);
      Blas.rowTimesBlock(att, c0, b.projW(), c0, cw, 0, d, partA[p], 0, false); // y[heads] Wproj[heads, :]
      barrier.await();
      dk.addPartials(xp, b.projB(), partA, midp, d); // mid = x + bproj + y Wproj (every participant)
      // --- this participant's block of MLP columns
      norm.layerNorm(midp, b.ln2W(), b.ln2B(), lnp, hat[p], rstd[p], 1, d, eps);
      Blas.rowTimesBlock(lnp, 0, fcPacked[l][p], 0, d, 0, fw, pre, f0[p], false);
      pw.biasGelu(prePart[p], fcBPart[l][p], actPart[p], 1, fw);
      Blas.rowTimesBlock(act, f0[p], b.fc2W(), f0[p], fw, 0, d, partB[p], 0, false); // act[cols] Wfc2[cols, :]
      barrier.await();
      dk.addPartials(midp, b.fc2B(), partB, xp, d); // x = mid + bfc2 + gelu(.) Wfc2
    }
    // --- final LayerNorm and this participant's block of the vocabulary
    norm.layerNorm(xp, w.lnfW, w.lnfB, lnp, hat[p], rstd[p], 1, d, eps);
    int nv = v1[p] - v0[p];
    if (nv > 0) {
      dk.rowsTimesVector(w.wte, v0[p], nv, d, lnp, logits, v0[p]); // logits[v0, v1) = wte[v0, v1) LN_f(x)
    }
  }

  @Override
  public void close() {
    arena.close();
  }
}
