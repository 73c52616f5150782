package org.rlhf4j.spark;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The models an executor JVM has rebuilt from broadcasts, shared by its tasks: keyed by the run,
 * the model's role and its broadcast version. A model is not thread-safe, so each entry keeps a
 * small pool of copies: a task borrows one (building it from the broadcast if none is idle) and
 * gives it back; concurrent tasks (an executor's cores) get a copy each. An entry is evicted (its
 * idle copies closed now, borrowed ones when they come back) when a newer version of the same run
 * and role arrives, or when more than {@link #maxEntries()} entries are held (least recently used
 * first). The bound is the system property {@value #MAX_ENTRIES_PROPERTY} of the executor JVM
 * (default 8: e.g. a policy, a reference and a reward model of two runs, with room for a version in
 * flight).
 */
public final class ExecutorModels {
  /** The system property bounding the entries held (default 8). */
  public static final String MAX_ENTRIES_PROPERTY = "rlhf4j.spark.cachedModels";

  private static final Logger log = LoggerFactory.getLogger(ExecutorModels.class);
  private static final Map<Key, Entry> ENTRIES = new LinkedHashMap<>(16, 0.75f, true); // access order
  private static long built;
  private static final Map<String, Long> BUILT_BY_ROLE = new java.util.HashMap<>(); // runId + "/" + role

  private ExecutorModels() {}

  /** A cache key: the run, the model's role in it and the broadcast version. */
  public record Key(String runId, String role, long version) {
    /** Checks the parts. */
    public Key {
      checkNotNull(runId, "runId");
      checkNotNull(role, "role");
      checkArgument(version >= 0, "version must be >= 0, got %s", version);
    }
  }

  private static final class Entry {
    final ArrayDeque<AutoCloseable> idle = new ArrayDeque<>();
    int borrowed;
    boolean evicted;
  }

  /** A borrowed model; {@link #close()} gives it back. */
  public static final class Lease<T extends AutoCloseable> implements AutoCloseable {
    private final Key key;
    private final Entry entry;
    private final boolean built;
    private T model;

    private Lease(Key key, Entry entry, T model, boolean built) {
      this.key = key;
      this.entry = entry;
      this.model = model;
      this.built = built;
    }

    /** Whether this borrow built the model (no idle copy was cached). */
    public boolean built() {
      return built;
    }

    /** The model (not to be used after {@link #close()}). */
    public T get() {
      if (model == null) {
        throw new IllegalStateException("the lease of " + key + " was given back");
      }
      return model;
    }

    /** Gives the model back (closing it if its entry was evicted meanwhile). Idempotent. */
    @Override
    public void close() {
      if (model == null) {
        return;
      }
      T m = model;
      model = null;
      boolean close;
      synchronized (ENTRIES) {
        entry.borrowed--;
        close = entry.evicted;
        if (!close) {
          entry.idle.push(m);
        }
      }
      if (close) {
        closeQuietly(m);
      }
    }
  }

  /** The bound on the entries held. */
  public static int maxEntries() {
    return Math.max(1, Integer.getInteger(MAX_ENTRIES_PROPERTY, 8));
  }

  /**
   * Borrows an idle copy of the model under {@code key}, or builds one with {@code build} (outside
   * the cache's lock: tasks building different models do not wait for each other).
   */
  @SuppressWarnings("unchecked")
  public static <T extends AutoCloseable> Lease<T> borrow(Key key, Supplier<T> build) {
    checkNotNull(key, "key");
    checkNotNull(build, "build");
    List<AutoCloseable> toClose = new ArrayList<>();
    Entry entry;
    T model;
    synchronized (ENTRIES) {
      entry = ENTRIES.get(key);
      if (entry == null) {
        entry = new Entry();
        // older versions of this run's role are never asked for again
        for (Iterator<Map.Entry<Key, Entry>> it = ENTRIES.entrySet().iterator(); it.hasNext();) {
          Map.Entry<Key, Entry> e = it.next();
          if (e.getKey().runId().equals(key.runId()) && e.getKey().role().equals(key.role())
              && e.getKey().version() < key.version()) {
            evict(e.getValue(), toClose);
            it.remove();
          }
        }
        ENTRIES.put(key, entry);
        while (ENTRIES.size() > maxEntries()) {
          Iterator<Map.Entry<Key, Entry>> it = ENTRIES.entrySet().iterator();
          Map.Entry<Key, Entry> eldest = it.next();
          evict(eldest.getValue(), toClose);
          it.remove();
        }
      }
      model = (T) entry.idle.poll();
      entry.borrowed++;
    }
    toClose.forEach(ExecutorModels::closeQuietly);
    boolean fresh = model == null;
    if (fresh) {
      try {
        model = build.get();
      } catch (RuntimeException | Error e) {
        synchronized (ENTRIES) {
          entry.borrowed--;
        }
        throw e;
      }
      synchronized (ENTRIES) {
        built++;
        BUILT_BY_ROLE.merge(key.runId() + "/" + key.role(), 1L, Long::sum);
      }
      log.debug("built {} ({} models built in this JVM)", key, built);
    }
    return new Lease<>(key, entry, model, fresh);
  }

  private static void evict(Entry e, List<AutoCloseable> toClose) {
    e.evicted = true;
    toClose.addAll(e.idle);
    e.idle.clear();
  }

  /** Models built in this JVM since it started (all runs). */
  public static long built() {
    synchronized (ENTRIES) {
      return built;
    }
  }

  /**
   * Copies of {@code role}'s models built in this JVM for {@code runId}, all versions (until the
   * run is {@link #release}d).
   */
  public static long built(String runId, String role) {
    synchronized (ENTRIES) {
      return BUILT_BY_ROLE.getOrDefault(runId + "/" + role, 0L);
    }
  }

  /** The keys held, least recently used first. */
  public static List<Key> keys() {
    synchronized (ENTRIES) {
      return List.copyOf(ENTRIES.keySet());
    }
  }

  /** Evicts every entry of {@code runId} (idle copies are closed now, borrowed ones when given back). */
  public static void release(String runId) {
    List<AutoCloseable> toClose = new ArrayList<>();
    synchronized (ENTRIES) {
      for (Iterator<Map.Entry<Key, Entry>> it = ENTRIES.entrySet().iterator(); it.hasNext();) {
        Map.Entry<Key, Entry> e = it.next();
        if (e.getKey().runId().equals(runId)) {
          evict(e.getValue(), toClose);
          it.remove();
        }
      }
      BUILT_BY_ROLE.keySet().removeIf(k -> k.startsWith(runId + "/"));
    }
    toClose.forEach(ExecutorModels::closeQuietly);
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      log.warn("closing an evicted model failed: {}", e.toString());
    }
  }
}
