package org.rlhf4j.examples.labelling;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.google.common.collect.ImmutableMap;
import com.google.common.util.concurrent.ThreadFactoryBuilder;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
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
 */
public final class LabellingServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LabellingServer.class);

  /** The address bound by default: loopback only. */
  public static final String DEFAULT_HOST = "127.0.0.1";
  /** The port bound by default. */
  public static final int DEFAULT_PORT = 8080;
  /** The largest request body accepted. */
  public static final int MAX_BODY_BYTES = 64 * 1024;
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

  private final WebLabeller labeller;
  private final HttpServer server;
  private final ExecutorService executor;
  private final ImmutableMap<String, Asset> assets;

  private LabellingServer(WebLabeller labeller, HttpServer server, ExecutorService executor, ImmutableMap<String, Asset> assets) {
    this.labeller = labeller;
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
    checkNotNull(labeller, "labeller");
    checkNotNull(host, "host");
    checkArgument(port >= 0 && port <= 65535, "port must be in 0..65535, got %s", port);
    ImmutableMap<String, Asset> assets = ImmutableMap.of(
        "/", asset("index.html", "text/html; charset=utf-8"),
        "/labelling.js", asset("labelling.js", "text/javascript; charset=utf-8"),
        "/labelling.css", asset("labelling.css", "text/css; charset=utf-8"));
    ExecutorService executor = Executors.newFixedThreadPool(4, new ThreadFactoryBuilder().setNameFormat("labelling-http-%d").setDaemon(true).build());
    try {
      HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
      LabellingServer s = new LabellingServer(labeller, server, executor, assets);
      server.createContext("/", s::handle);
      server.setExecutor(executor);
      server.start();
      LOG.info("labelling page at {}", s.uri());
      return s;
    } catch (IOException e) {
      executor.shutdownNow();
      throw new UncheckedIOException("cannot serve the labelling page on " + host + ":" + port, e);
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

  /** Stops serving at once; requests in flight are cut off. */
  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }

  private void handle(HttpExchange ex) {
    try {
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
    } catch (IOException | RuntimeException e) {
      LOG.error("{} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
      trySend(ex, 500, LabellingJson.error("internal error: " + e));
    } finally {
      ex.close();
    }
  }

  private void route(HttpExchange ex) throws HttpError, IOException {
    String path = ex.getRequestURI().getPath();
    switch (path) {
      case "/api/next" -> {
        requireMethod(ex, "GET");
        var next = labeller.next();
        RoundProgress progress = labeller.progress();
        TrainingStatus status = labeller.status();
        send(ex, 200, next.isPresent() ? LabellingJson.item(next.get(), progress, status) : LabellingJson.done(progress, status));
      }
      case "/api/status" -> {
        requireMethod(ex, "GET");
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
        ex.getResponseHeaders().set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
        ex.getResponseHeaders().set("Referrer-Policy", "no-referrer");
        send(ex, 200, a.contentType(), a.bytes());
      }
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
  private static LabelResult answer(Supplier<LabelResult> action) throws HttpError {
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
