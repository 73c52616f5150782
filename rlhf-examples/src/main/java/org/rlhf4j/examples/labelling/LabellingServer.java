package org.rlhf4j.examples.labelling;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.google.common.collect.ImmutableMap;
import com.google.common.net.InetAddresses;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.channels.ClosedByInterruptException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.rlhf4j.reward.feedback.AbChoice;
import org.rlhf4j.reward.feedback.AbJudgement;
import org.rlhf4j.reward.feedback.LabelResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The labelling page and its JSON API, served by the JDK's HTTP server for a {@link WebLabeller}.
 *
 * <ul>
 *   <li>{@code GET /} — the page ({@code index.html}, {@code labelling.js}, {@code labelling.css}).
 *   <li>{@code GET /api/next} — the oldest waiting item: {@code {"done": false, "itemId", "prompt",
 *       "responses": [...], "round", "modelVersion", "progress", "status"}}, or {@code {"done": true,
 *       "progress", "status"}} when nothing is waiting.
 *   <li>{@code POST /api/label} with {@code {"itemId": "...", "ranking": [2, 0, 1]}} (response indices,
 *       best first) and {@code POST /api/skip} with {@code {"itemId": "..."}} — answer {@code {"ok":
 *       true, "itemId", "skipped", "ranking", "progress"}} once the answer is recorded (a ranking is on
 *       disk by then).
 *   <li>{@code GET /api/status} — {@code {"progress", "status", "waiting"}}.
 * </ul>
 *
 * <p>{@code progress} is {@code {"round": n|null, "labelled", "skipped", "total"}} and {@code status}
 * is {@code {"stage", "rewardModelAccuracy": x|null, "ppoScore": x|null}}. A refused request changes
 * nothing and gets {@code {"error": "..."}} with 400 (malformed JSON, missing field, not a
 * permutation), 404 (unknown path or item), 405 (wrong method), 409 (item already answered), 413
 * (body over {@value #MAX_BODY_BYTES} bytes; not read beyond that) or 415 (a POST that is not {@code
 * application/json}, which also keeps other web sites from posting through a person's browser).
 *
 * <p><b>Blind A/B mode</b> ({@link #startAb}): {@code GET /} serves the A/B page, {@code GET
 * /api/ab/next} gives {@code {"done": false, "itemId", "prompt", "responses": [A, B], "progress":
 * {"judged", "skipped", "total"}}} (never the policies' names) or {@code {"done": true, "progress"}},
 * {@code POST /api/ab/choose} takes {@code {"itemId", "choice": "A"|"B"|"tie"}} and {@code POST
 * /api/ab/skip} takes {@code {"itemId"}}; both answer {@code {"ok": true, "itemId", "choice"|"skipped",
 * "progress"}} once recorded (a verdict is on disk by then). The ranking endpoints answer 404 in
 * this mode, and the A/B ones in the ranking mode.
 *
 * <p><b>Limits.</b> Requests are served by {@link Limits#workers()} threads, and each request must
 * arrive completely (line, headers, body) within {@link Limits#requestTimeout()} of a worker starting
 * to read it, or its connection is closed; so clients that send slowly or stall cannot hold the
 * server (see {@link RequestDeadlines}). Every request's {@code Host} must name this server (its
 * bound address, or {@code localhost} when bound to loopback, with the bound port), and a POST's
 * {@code Origin}, when present, must be {@code http://} plus such a host: otherwise 403. This stops a
 * page on another site from reaching the server through DNS rebinding.
 */
public final class LabellingServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LabellingServer.class);

  /** The address bound by default: loopback only. */
  public static final String DEFAULT_HOST = "127.0.0.1";
  /** The port bound by default. */
  public static final int DEFAULT_PORT = 8080;
  /** The largest request body accepted. */
  public static final int MAX_BODY_BYTES = 64 * 1024;
  /** How long {@link #close} waits for requests being handled. */
  static final int CLOSE_GRACE_SECONDS = 5;
  /** Bodies announced up to this size are read away before a 413; larger ones are not read at all. */
  private static final long DRAIN_LIMIT = 16L * MAX_BODY_BYTES;

  private static final String RESOURCES = "/org/rlhf4j/examples/labelling/";
  private static final String JSON_TYPE = "application/json; charset=utf-8";

  /** A static file of the page. */
  private record Asset(String contentType, byte[] bytes) {}

  /** A refusal: the status, the message, and for 405 the allowed method. */
  private static final class HttpError extends Exception {
    final int status;
    final String allow;

    HttpError(int status, String message) {
      this(status, message, null);
    }

    HttpError(int status, String message, String allow) {
      super(message);
      this.status = status;
      this.allow = allow;
    }
  }

  /**
   * The server's limits.
   *
   * @param workers threads serving requests (at least 1)
   * @param requestTimeout how long a request may take to arrive once a worker starts reading it
   */
  public record Limits(int workers, Duration requestTimeout) {
    /** 16 workers, 20 seconds. */
    public static final Limits DEFAULT = new Limits(16, Duration.ofSeconds(20));

    /** Validates the fields. */
    public Limits {
      checkArgument(workers > 0 && workers <= 1024, "workers must be in 1..1024, got %s", workers);
      checkNotNull(requestTimeout, "requestTimeout");
      checkArgument(!requestTimeout.isNegative() && !requestTimeout.isZero(), "requestTimeout must be positive, got %s", requestTimeout);
    }
  }

  private final Optional<WebLabeller> labeller;
  private final Optional<AbSession> ab;
  private final HttpServer server;
  private final RequestDeadlines executor;
  private final ImmutableMap<String, Asset> assets;
  private final Object flight = new Object();
  private int inFlight; // guarded by flight: handlers running
  private boolean closing; // guarded by flight
  private Set<String> authorities = Set.of(); // host:port names of this server, lower case; set once bound
  private boolean anyIpLiteral; // bound to the wildcard address: any IP literal with our port names us

  private LabellingServer(Optional<WebLabeller> labeller, Optional<AbSession> ab, HttpServer server, RequestDeadlines executor, ImmutableMap<String, Asset> assets) {
    this.labeller = labeller;
    this.ab = ab;
    this.server = server;
    this.executor = executor;
    this.assets = assets;
  }

  /** Serves {@code labeller} on {@value #DEFAULT_HOST}:{@value #DEFAULT_PORT}. */
  public static LabellingServer start(WebLabeller labeller) {
    return start(labeller, DEFAULT_HOST, DEFAULT_PORT);
  }

  /**
   * Serves {@code labeller} on {@code host}:{@code port}; port 0 picks a free port (see {@link
   * #port()}).
   *
   * @throws UncheckedIOException if the address cannot be bound
   */
  public static LabellingServer start(WebLabeller labeller, String host, int port) {
    return start(labeller, host, port, Limits.DEFAULT);
  }

  /** Serves {@code labeller} on {@code host}:{@code port} with the given limits. */
  public static LabellingServer start(WebLabeller labeller, String host, int port, Limits limits) {
    checkNotNull(labeller, "labeller");
    ImmutableMap<String, Asset> assets = ImmutableMap.of(
        "/", asset("index.html", "text/html; charset=utf-8"),
        "/labelling.js", asset("labelling.js", "text/javascript; charset=utf-8"),
        "/labelling.css", asset("labelling.css", "text/css; charset=utf-8"));
    return serve(Optional.of(labeller), Optional.empty(), assets, host, port, limits);
  }

  /**
   * Serves the blind A/B page for {@code session} on {@code host}:{@code port}; port 0 picks a free
   * port.
   */
  public static LabellingServer startAb(AbSession session, String host, int port, Limits limits) {
    checkNotNull(session, "session");
    ImmutableMap<String, Asset> assets = ImmutableMap.of(
        "/", asset("ab.html", "text/html; charset=utf-8"),
        "/ab.js", asset("ab.js", "text/javascript; charset=utf-8"),
        "/labelling.css", asset("labelling.css", "text/css; charset=utf-8"));
    return serve(Optional.empty(), Optional.of(session), assets, host, port, limits);
  }

  private static LabellingServer serve(Optional<WebLabeller> labeller, Optional<AbSession> ab, ImmutableMap<String, Asset> assets, String host, int port, Limits limits) {
    checkNotNull(host, "host");
    checkArgument(port >= 0 && port <= 65535, "port must be in 0..65535, got %s", port);
    checkNotNull(limits, "limits");
    RequestDeadlines executor = new RequestDeadlines(limits.workers(), limits.requestTimeout());
    try {
      HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
      LabellingServer s = new LabellingServer(labeller, ab, server, executor, assets);
      s.nameBoundAddress();
      server.createContext("/", s::handle);
      server.setExecutor(executor);
      server.start();
      LOG.info("labelling page at {}", s.uri());
      return s;
    } catch (IOException e) {
      executor.close();
      throw new UncheckedIOException("cannot serve the labelling page on " + host + ":" + port, e);
    }
  }

  /** Works out the Host values that name this server. */
  private void nameBoundAddress() {
    InetSocketAddress bound = server.getAddress();
    InetAddress addr = bound.getAddress();
    int p = bound.getPort();
    Set<String> names = new HashSet<>();
    String literal = addr.getHostAddress();
    names.add((literal.contains(":") ? "[" + stripScope(literal) + "]" : literal) + ":" + p);
    if (addr.isLoopbackAddress() || addr.isAnyLocalAddress()) {
      names.add("localhost:" + p);
      names.add("127.0.0.1:" + p);
      names.add("[::1]:" + p);
    }
    authorities = Set.copyOf(names.stream().map(n -> n.toLowerCase(Locale.ROOT)).toList());
    anyIpLiteral = addr.isAnyLocalAddress();
  }

  private static String stripScope(String ipv6) {
    int pct = ipv6.indexOf('%');
    return pct < 0 ? ipv6 : ipv6.substring(0, pct);
  }

  /** Whether {@code authority} ("host:port" as in a Host header) names this server. */
  private boolean namesThisServer(String authority) {
    String a = authority.trim().toLowerCase(Locale.ROOT);
    if (authorities.contains(a)) {
      return true;
    }
    if (!anyIpLiteral) {
      return false;
    }
    int colon = a.lastIndexOf(':');
    if (colon <= 0 || !a.substring(colon + 1).equals(String.valueOf(port()))) {
      return false;
    }
    String h = a.substring(0, colon);
    if (h.startsWith("[") && h.endsWith("]")) {
      return h.length() > 2 && h.substring(1, h.length() - 1).chars().allMatch(c -> Character.digit(c, 16) >= 0 || c == ':' || c == '.');
    }
    return InetAddresses.isInetAddress(h);
  }

  /** Refuses a request whose Host (or, on a POST, Origin) does not name this server. */
  private void checkHostAndOrigin(HttpExchange ex) throws HttpError {
    List<String> hosts = ex.getRequestHeaders().get("Host");
    if (hosts == null || hosts.size() != 1 || !namesThisServer(hosts.get(0))) {
      throw new HttpError(403, "the Host header " + (hosts == null ? "is missing" : hosts) + " does not name this server (" + uri().getAuthority() + ")");
    }
    if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
      List<String> origins = ex.getRequestHeaders().get("Origin");
      if (origins != null) {
        String o = origins.size() == 1 ? origins.get(0).trim() : "";
        boolean ours = o.regionMatches(true, 0, "http://", 0, 7) && namesThisServer(o.substring(7));
        if (!ours) {
          throw new HttpError(403, "requests from origin " + origins + " are not accepted; open the page at " + uri());
        }
      }
    }
  }

  private static Asset asset(String name, String contentType) {
    try (InputStream in = LabellingServer.class.getResourceAsStream(RESOURCES + name)) {
      checkArgument(in != null, "resource %s%s is missing from the class path", RESOURCES, name);
      return new Asset(contentType, in.readAllBytes());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read resource " + RESOURCES + name, e);
    }
  }

  /** The port actually bound. */
  public int port() {
    return server.getAddress().getPort();
  }

  /** The page's address, e.g. {@code http://127.0.0.1:8080/}. */
  public URI uri() {
    String host = server.getAddress().getAddress().getHostAddress();
    return URI.create("http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port() + "/");
  }

  /**
   * Stops serving. Requests still arriving are cut off; requests already being handled (e.g. the
   * last answer, whose storing is what ended the session) finish and get their reply, waiting at
   * most {@value #CLOSE_GRACE_SECONDS} seconds; requests handled from now on are answered 503 and
   * change nothing. Then the listening socket closes. A second call does nothing.
   */
  @Override
  public void close() {
    synchronized (flight) {
      if (closing) {
        return;
      }
      closing = true;
    }
    executor.cutOffReceiving();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CLOSE_GRACE_SECONDS);
    boolean interrupted = false;
    synchronized (flight) {
      long left;
      while (inFlight > 0 && (left = deadline - System.nanoTime()) > 0) {
        try {
          TimeUnit.NANOSECONDS.timedWait(flight, left);
        } catch (InterruptedException e) {
          interrupted = true;
          break;
        }
      }
      if (inFlight > 0) {
        LOG.warn("closing the labelling server with {} requests still in flight", inFlight);
      }
    }
    server.stop(0);
    executor.close();
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private void handle(HttpExchange ex) {
    boolean refuse;
    synchronized (flight) {
      refuse = closing;
      inFlight++;
    }
    try {
      if (refuse) {
        throw new HttpError(503, "the server is shutting down");
      }
      route(ex);
    } catch (HttpError e) {
      if (e.allow != null) {
        ex.getResponseHeaders().set("Allow", e.allow);
      }
      if (e.status == 413) {
        ex.getResponseHeaders().set("Connection", "close");
      }
      LOG.debug("{} {}: {} {}", ex.getRequestMethod(), ex.getRequestURI(), e.status, e.getMessage());
      trySend(ex, e.status, LabellingJson.error(e.getMessage()));
    } catch (ClosedByInterruptException e) {
      LOG.debug("{} {}: not received within the request timeout; connection closed", ex.getRequestMethod(), ex.getRequestURI());
    } catch (IOException | RuntimeException e) {
      LOG.error("{} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
      trySend(ex, 500, LabellingJson.error("internal error: " + e));
    } finally {
      ex.close();
      synchronized (flight) {
        inFlight--;
        flight.notifyAll();
      }
    }
  }

  private void route(HttpExchange ex) throws HttpError, IOException {
    checkHostAndOrigin(ex);
    String path = ex.getRequestURI().getPath();
    if (path.startsWith("/api/ab/")) {
      routeAb(ex, path, ab.orElseThrow(() -> new HttpError(404, "no such API: " + path + " (this server runs the ranking page, not the A/B mode)")));
      return;
    }
    if (path.startsWith("/api/") && labeller.isEmpty()) {
      throw new HttpError(404, "no such API: " + path + " (this server runs the blind A/B mode)");
    }
    WebLabeller labeller = this.labeller.orElse(null);
    switch (path) {
      case "/api/next" -> {
        requireMethod(ex, "GET");
        RequestDeadlines.requestReceived();
        var next = labeller.next();
        RoundProgress progress = labeller.progress();
        TrainingStatus status = labeller.status();
        send(ex, 200, next.isPresent() ? LabellingJson.item(next.get(), progress, status) : LabellingJson.done(progress, status));
      }
      case "/api/status" -> {
        requireMethod(ex, "GET");
        RequestDeadlines.requestReceived();
        send(ex, 200, LabellingJson.overview(labeller.progress(), labeller.status(), labeller.pendingItems().size()));
      }
      case "/api/label" -> {
        requireMethod(ex, "POST");
        JsonNode body = readJson(ex);
        String itemId = itemId(body);
        List<Integer> ranking = ranking(body);
        LabelResult r = answer(() -> labeller.rank(itemId, ranking));
        send(ex, 200, LabellingJson.accepted(r, labeller.progress()));
      }
      case "/api/skip" -> {
        requireMethod(ex, "POST");
        String itemId = itemId(readJson(ex));
        LabelResult r = answer(() -> labeller.skip(itemId));
        send(ex, 200, LabellingJson.accepted(r, labeller.progress()));
      }
      default -> {
        Asset a = assets.get(path);
        if (a == null) {
          throw new HttpError(404, "no such page: " + path);
        }
        requireMethod(ex, "GET");
        RequestDeadlines.requestReceived();
        ex.getResponseHeaders().set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
        ex.getResponseHeaders().set("Referrer-Policy", "no-referrer");
        send(ex, 200, a.contentType(), a.bytes());
      }
    }
  }

  private void routeAb(HttpExchange ex, String path, AbSession session) throws HttpError, IOException {
    switch (path) {
      case "/api/ab/next" -> {
        requireMethod(ex, "GET");
        RequestDeadlines.requestReceived();
        var next = session.next();
        send(ex, 200, next.isPresent() ? LabellingJson.abItem(next.get(), session.progress()) : LabellingJson.abDone(session.progress()));
      }
      case "/api/ab/choose" -> {
        requireMethod(ex, "POST");
        JsonNode body = readJson(ex);
        String itemId = itemId(body);
        JsonNode c = body.get("choice");
        AbChoice choice;
        try {
          choice = AbChoice.parse(c == null || !c.isTextual() ? null : c.asText());
        } catch (IllegalArgumentException e) {
          throw new HttpError(400, e.getMessage() + (c != null && !c.isTextual() ? " (" + c + ")" : ""));
        }
        AbJudgement j = answer(() -> session.choose(itemId, choice));
        send(ex, 200, LabellingJson.abAccepted(itemId, Optional.of(j.choice()), session.progress()));
      }
      case "/api/ab/skip" -> {
        requireMethod(ex, "POST");
        String itemId = itemId(readJson(ex));
        answer(() -> {
          session.skip(itemId);
          return null;
        });
        send(ex, 200, LabellingJson.abAccepted(itemId, Optional.empty(), session.progress()));
      }
      default -> throw new HttpError(404, "no such API: " + path);
    }
  }

  private static void requireMethod(HttpExchange ex, String method) throws HttpError {
    if (!ex.getRequestMethod().equals(method)) {
      throw new HttpError(405, ex.getRequestMethod() + " is not allowed on " + ex.getRequestURI().getPath() + "; use " + method, method);
    }
  }

  /** Reads and parses a JSON body, refusing one over the limit without reading past it. */
  private static JsonNode readJson(HttpExchange ex) throws HttpError, IOException {
    String length = ex.getRequestHeaders().getFirst("Content-Length");
    if (length != null) {
      long n;
      try {
        n = Long.parseLong(length.trim());
      } catch (NumberFormatException e) {
        throw new HttpError(400, "bad Content-Length: " + length);
      }
      if (n > MAX_BODY_BYTES) {
        if (n <= DRAIN_LIMIT) {
          // Read the modest excess away, so that the client reliably sees the 413 instead of a reset
          // connection; a huge body is refused without being read.
          try (InputStream in = ex.getRequestBody()) {
            byte[] sink = new byte[8192];
            long left = n;
            while (left > 0) {
              int r = in.read(sink, 0, (int) Math.min(sink.length, left));
              if (r < 0) {
                break;
              }
              left -= r;
            }
          } catch (IOException ignored) {
            // the client went away; the answer below is best effort
          }
        }
        throw new HttpError(413, "request body of " + n + " bytes is over the limit of " + MAX_BODY_BYTES);
      }
    }
    String type = ex.getRequestHeaders().getFirst("Content-Type");
    if (type == null || !type.toLowerCase(Locale.ROOT).startsWith("application/json")) {
      throw new HttpError(415, "the body must be application/json, got " + (type == null ? "no Content-Type" : type));
    }
    byte[] body;
    try (InputStream in = ex.getRequestBody()) {
      body = in.readNBytes(MAX_BODY_BYTES + 1);
    }
    if (body.length > MAX_BODY_BYTES) {
      throw new HttpError(413, "request body is over the limit of " + MAX_BODY_BYTES + " bytes");
    }
    RequestDeadlines.requestReceived(); // from here on this exchange is never interrupted
    try {
      JsonNode node = LabellingJson.MAPPER.readTree(body);
      if (node == null || !node.isObject()) {
        throw new HttpError(400, "the body must be a JSON object");
      }
      return node;
    } catch (JsonProcessingException e) {
      throw new HttpError(400, "malformed JSON: " + e.getOriginalMessage());
    }
  }

  private static String itemId(JsonNode body) throws HttpError {
    JsonNode id = body.get("itemId");
    if (id == null || !id.isTextual() || id.asText().isEmpty()) {
      throw new HttpError(400, "\"itemId\" must be a non-empty string");
    }
    return id.asText();
  }

  private static List<Integer> ranking(JsonNode body) throws HttpError {
    JsonNode r = body.get("ranking");
    if (r == null || !r.isArray()) {
      throw new HttpError(400, "\"ranking\" must be an array of response indices, best first");
    }
    List<Integer> out = new ArrayList<>(r.size());
    for (JsonNode i : r) {
      if (!i.isIntegralNumber() || !i.canConvertToInt()) {
        throw new HttpError(400, "\"ranking\" must hold integers, got " + i);
      }
      out.add(i.asInt());
    }
    return out;
  }

  /** Runs an answer, turning a rejection into its HTTP status. */
  private static <T> T answer(Supplier<T> action) throws HttpError {
    try {
      return action.get();
    } catch (LabelRejectedException e) {
      int status = switch (e.reason()) {
        case UNKNOWN_ITEM -> 404;
        case ALREADY_ANSWERED -> 409;
        case INVALID_RANKING -> 400;
      };
      throw new HttpError(status, e.getMessage());
    }
  }

  private static void send(HttpExchange ex, int status, JsonNode body) throws IOException {
    send(ex, status, JSON_TYPE, LabellingJson.MAPPER.writeValueAsBytes(body));
  }

  private static void send(HttpExchange ex, int status, String contentType, byte[] body) throws IOException {
    ex.getResponseHeaders().set("Content-Type", contentType);
    ex.getResponseHeaders().set("Cache-Control", "no-store");
    ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
    ex.sendResponseHeaders(status, body.length);
    try (OutputStream os = ex.getResponseBody()) {
      os.write(body);
    }
  }

  private static void trySend(HttpExchange ex, int status, JsonNode body) {
    try {
      send(ex, status, body);
    } catch (IOException | RuntimeException e) {
      LOG.debug("could not send the {} response: {}", status, e.toString());
    }
  }
}
