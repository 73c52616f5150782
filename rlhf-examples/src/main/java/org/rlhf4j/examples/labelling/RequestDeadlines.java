package org.rlhf4j.examples.labelling;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The executor of one {@link LabellingServer}: a pool of workers plus a per-server deadline for
 * receiving each request, so that slow or stalled clients (slowloris) cannot hold every worker.
 *
 * <p>The JDK's HTTP server reads a request's line and headers on the executor's thread, from a
 * blocking socket channel, and has no per-server read timeout (its {@code sun.net.httpserver.*}
 * properties are global and read once per JVM). Here every exchange starts in the <em>receiving</em>
 * state, which lasts until the handler has read the whole request ({@link #requestReceived()}). A
 * watchdog interrupts a worker still receiving after the deadline; the interrupt closes that
 * connection's channel ({@link java.nio.channels.ClosedByInterruptException}) and frees the worker.
 * Once a request is received the worker is never interrupted again (so the store's file channel
 * can never be closed by an interrupt), and a pending interrupt is cleared under the same lock.
 */
final class RequestDeadlines implements Executor, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RequestDeadlines.class);
  private static final ThreadLocal<Task> CURRENT = new ThreadLocal<>();

  private final ThreadPoolExecutor pool;
  private final ScheduledExecutorService watchdog;
  private final long timeoutNanos;
  private final Duration timeout;
  private final Set<Task> running = ConcurrentHashMap.newKeySet();

  /** One exchange run by a worker. */
  private final class Task implements Runnable {
    private final Runnable exchange;
    private Thread thread; // guarded by this
    private long startNanos; // guarded by this
    private boolean receiving; // guarded by this

    Task(Runnable exchange) {
      this.exchange = exchange;
    }

    @Override
    public void run() {
      synchronized (this) {
        thread = Thread.currentThread();
        startNanos = System.nanoTime();
        receiving = true;
      }
      CURRENT.set(this);
      running.add(this);
      try {
        exchange.run();
      } finally {
        running.remove(this);
        CURRENT.remove();
        synchronized (this) {
          receiving = false;
          thread = null;
          Thread.interrupted(); // never hand an interrupt on to the worker's next exchange
        }
      }
    }

    synchronized void received() {
      receiving = false;
      Thread.interrupted(); // an interrupt that landed just after the last read: the request is complete
    }

    synchronized void expireIfLate(long now, boolean closing) {
      if (receiving && thread != null && (closing || now - startNanos > timeoutNanos)) {
        receiving = false;
        LOG.debug("a request was not received within {}; closing its connection", timeout);
        thread.interrupt();
      }
    }
  }

  /**
   * {@code workers} threads; a request must arrive completely within {@code timeout} of a worker
   * starting to read it.
   */
  RequestDeadlines(int workers, Duration timeout) {
    checkArgument(workers > 0, "workers must be positive, got %s", workers);
    checkNotNull(timeout, "timeout");
    checkArgument(!timeout.isNegative() && !timeout.isZero(), "the request timeout must be positive, got %s", timeout);
    this.timeout = timeout;
    this.timeoutNanos = timeout.toNanos();
    this.pool = new ThreadPoolExecutor(workers, workers, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
        new ThreadFactoryBuilder().setNameFormat("labelling-http-%d").setDaemon(true).build());
    pool.allowCoreThreadTimeOut(true);
    ScheduledThreadPoolExecutor w = new ScheduledThreadPoolExecutor(1, new ThreadFactoryBuilder().setNameFormat("labelling-http-deadlines").setDaemon(true).build());
    w.setRemoveOnCancelPolicy(true);
    this.watchdog = w;
    long periodMillis = Math.max(10, Math.min(1000, timeout.toMillis() / 10));
    watchdog.scheduleAtFixedRate(this::expireLate, periodMillis, periodMillis, TimeUnit.MILLISECONDS);
  }

  private void expireLate() {
    long now = System.nanoTime();
    for (Task t : running) {
      t.expireIfLate(now, false);
    }
  }

  @Override
  public void execute(Runnable exchange) {
    pool.execute(new Task(exchange));
  }

  /**
   * Called by a handler on its worker once the whole request (line, headers and body) has been read:
   * the exchange is no longer subject to the deadline and will not be interrupted.
   */
  static void requestReceived() {
    Task t = CURRENT.get();
    if (t != null) {
      t.received();
    }
  }

  /** The deadline for receiving a request. */
  Duration timeout() {
    return timeout;
  }

  /** Cuts off every exchange still receiving its request (those being handled are left alone). */
  void cutOffReceiving() {
    long now = System.nanoTime();
    for (Task t : running) {
      t.expireIfLate(now, true);
    }
  }

  /**
   * Stops the watchdog and the workers: exchanges still receiving are cut off; one already being
   * handled (e.g. appending to the store) finishes undisturbed, never interrupted.
   */
  @Override
  public void close() {
    watchdog.shutdownNow();
    cutOffReceiving();
    pool.shutdown();
  }
}
