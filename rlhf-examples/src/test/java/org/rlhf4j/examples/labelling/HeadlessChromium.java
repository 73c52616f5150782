package org.rlhf4j.examples.labelling;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A headless Chromium driven over the Chrome DevTools Protocol with the JDK's WebSocket client, for
 * browser tests without Selenium. {@link #launch} starts Debian's {@code /usr/bin/chromium} (or the
 * binary named by the system property {@code rlhf4j.chromium}) with a fresh profile in a temporary
 * folder and attaches to its page; {@link #close} ends the browser and deletes the folder. Failures
 * are {@link AssertionError}s that say what was awaited and what the page showed.
 */
final class HeadlessChromium implements AutoCloseable {
  static final String DEFAULT_BINARY = "/usr/bin/chromium";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

  private final Process process;
  private final Path dir;
  private final WebSocket socket;
  private final Replies replies;
  private final AtomicInteger ids = new AtomicInteger();

  private HeadlessChromium(Process process, Path dir, WebSocket socket, Replies replies) {
    this.process = process;
    this.dir = dir;
    this.socket = socket;
    this.replies = replies;
  }

  /** Starts the default Chromium with a {@code width} x {@code height} viewport. */
  static HeadlessChromium launch(int width, int height) throws IOException, InterruptedException {
    return launch(Path.of(System.getProperty("rlhf4j.chromium", DEFAULT_BINARY)), width, height);
  }

  /**
   * Starts {@code binary} with a {@code width} x {@code height} viewport.
   *
   * @throws AssertionError with installation instructions if {@code binary} is not an executable
   */
  static HeadlessChromium launch(Path binary, int width, int height) throws IOException, InterruptedException {
    if (!Files.isExecutable(binary)) {
      throw new AssertionError("Chromium is not installed at " + binary + "; the labelling page's browser test needs it. "
          + "Install Debian's package with `sudo apt-get install -y --no-install-recommends chromium` "
          + "(or run with -Drlhf4j.chromium=/path/to/chromium).");
    }
    Path dir = Files.createTempDirectory("rlhf4j-chromium-");
    Path profile = Files.createDirectory(dir.resolve("profile"));
    Path log = dir.resolve("chromium.log");
    Process process = new ProcessBuilder(binary.toString(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--user-data-dir=" + profile, "--remote-debugging-port=0", "--window-size=" + width + "," + height, "about:blank")
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    try {
      int port = awaitPort(process, profile.resolve("DevToolsActivePort"), log);
      Replies replies = new Replies();
      WebSocket socket = HttpClient.newHttpClient().newWebSocketBuilder().connectTimeout(CALL_TIMEOUT)
          .buildAsync(URI.create(pageTarget(port)), replies).get(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      HeadlessChromium chromium = new HeadlessChromium(process, dir, socket, replies);
      ObjectNode metrics = JSON.createObjectNode().put("width", width).put("height", height).put("deviceScaleFactor", 1).put("mobile", false);
      chromium.call("Emulation.setDeviceMetricsOverride", metrics);
      return chromium;
    } catch (ExecutionException | TimeoutException e) {
      stop(process, false);
      deleteRecursively(dir);
      throw new AssertionError("cannot attach to Chromium's page: " + e + "\n" + tail(log), e);
    } catch (IOException | InterruptedException | RuntimeException | Error e) {
      stop(process, false);
      deleteRecursively(dir);
      throw e;
    }
  }

  private static int awaitPort(Process process, Path file, Path log) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (Files.exists(file)) {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        if (lines.size() >= 2 && !lines.get(0).isBlank()) {
          return Integer.parseInt(lines.get(0).trim());
        }
      }
      if (!process.isAlive()) {
        throw new AssertionError("Chromium exited with status " + process.exitValue() + " before opening DevTools:\n" + tail(log));
      }
      Thread.sleep(25);
    }
    throw new AssertionError("Chromium did not open DevTools within " + START_TIMEOUT.toSeconds() + " s:\n" + tail(log));
  }

  private static String pageTarget(int port) throws IOException, InterruptedException {
    HttpResponse<String> r = HttpClient.newHttpClient().send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/json/list")).timeout(CALL_TIMEOUT).build(), HttpResponse.BodyHandlers.ofString());
    for (JsonNode target : JSON.readTree(r.body())) {
      if (target.path("type").asText().equals("page") && target.has("webSocketDebuggerUrl")) {
        return target.get("webSocketDebuggerUrl").asText();
      }
    }
    throw new AssertionError("Chromium lists no page target: " + r.body());
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** Sends a DevTools command and returns its {@code result}. */
  synchronized JsonNode call(String method, ObjectNode params) {
    int id = ids.incrementAndGet();
    ObjectNode message = JSON.createObjectNode().put("id", id).put("method", method);
    message.set("params", params == null ? JSON.createObjectNode() : params);
    CompletableFuture<JsonNode> reply = replies.expect(id);
    try {
      socket.sendText(JSON.writeValueAsString(message), true).get(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      JsonNode r = reply.get(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      if (r.has("error")) {
        throw new AssertionError(method + " failed: " + r.get("error"));
      }
      return r.path("result");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(method + " interrupted", e);
    } catch (ExecutionException | TimeoutException | JsonProcessingException e) {
      throw new AssertionError(method + " got no reply: " + e, e);
    }
  }

  /** Opens {@code url} in the page. */
  void navigate(String url) {
    JsonNode r = call("Page.navigate", JSON.createObjectNode().put("url", url));
    if (r.hasNonNull("errorText")) {
      throw new AssertionError("cannot open " + url + ": " + r.get("errorText").asText());
    }
  }

  /** Evaluates a JavaScript expression in the page (awaiting a promise) and returns its value. */
  JsonNode evaluate(String expression) {
    JsonNode r = call("Runtime.evaluate", JSON.createObjectNode().put("expression", expression).put("returnByValue", true).put("awaitPromise", true));
    if (r.has("exceptionDetails")) {
      JsonNode d = r.get("exceptionDetails");
      throw new AssertionError("JavaScript failed: " + d.path("exception").path("description").asText(d.path("text").asText()) + "\nin: " + expression);
    }
    return r.path("result").path("value");
  }

  /** The text of the first element matching {@code selector}. */
  String text(String selector) {
    JsonNode v = evaluate("(() => { const e = document.querySelector(" + quote(selector) + "); return e ? e.textContent : null; })()");
    if (v.isNull() || v.isMissingNode()) {
      throw new AssertionError("no element matches " + selector);
    }
    return v.asText();
  }

  /**
   * Polls {@code condition} (a JavaScript expression) until it is truthy, or fails after {@code
   * timeout}. A condition that throws (say, while a new page has no body yet) counts as false.
   */
  void waitUntil(String condition, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    String guarded = "(() => { try { return !!(" + condition + "); } catch (e) { return 'error: ' + e; } })()";
    JsonNode last;
    while (!(last = evaluate(guarded)).isBoolean() || !last.asBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for " + condition + " (last: " + last.asText()
            + ")\npage text: " + evaluate("document.body ? document.body.innerText : '(no body)'").asText());
      }
      Thread.sleep(20);
    }
  }

  /**
   * Clicks the centre of the first element matching {@code selector} as a person would: the element
   * is found and scrolled into view with {@code Runtime.evaluate}, then a left press and release go
   * through the browser's input pipeline ({@code Input.dispatchMouseEvent}), so whatever is on top
   * at that point receives them.
   */
  void click(String selector) {
    JsonNode at = evaluate("(() => { const e = document.querySelector(" + quote(selector) + "); if (!e) return null;"
        + " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
        + " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()");
    if (at.isNull() || at.isMissingNode()) {
      throw new AssertionError("no element matches " + selector + "\npage text: " + evaluate("document.body.innerText").asText());
    }
    double x = at.get("x").asDouble();
    double y = at.get("y").asDouble();
    call("Input.dispatchMouseEvent", JSON.createObjectNode().put("type", "mouseMoved").put("x", x).put("y", y));
    for (String type : List.of("mousePressed", "mouseReleased")) {
      call("Input.dispatchMouseEvent", JSON.createObjectNode().put("type", type).put("x", x).put("y", y).put("button", "left").put("clickCount", 1));
    }
  }

  /** A PNG of the viewport. */
  byte[] screenshot() {
    return Base64.getDecoder().decode(call("Page.captureScreenshot", JSON.createObjectNode().put("format", "png")).get("data").asText());
  }

  private static String quote(String s) {
    try {
      return JSON.writeValueAsString(s);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Closes the browser, kills what is left of it, and deletes its profile folder. */
  @Override
  public void close() throws IOException {
    try {
      try {
        socket.sendText(JSON.writeValueAsString(JSON.createObjectNode().put("id", ids.incrementAndGet()).put("method", "Browser.close")), true)
            .get(5, TimeUnit.SECONDS);
      } catch (ExecutionException | TimeoutException | JsonProcessingException e) {
        // killed below
      }
      socket.abort();
      stop(process, true);
      deleteRecursively(dir);
    } catch (InterruptedException e) {
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while closing Chromium; killed it, left " + dir, e);
    }
  }

  /** Ends the browser: waits a little if it was asked to close, then terminates it and its children. */
  private static void stop(Process process, boolean closing) throws InterruptedException {
    List<ProcessHandle> children = process.descendants().toList();
    if (!closing || !process.waitFor(5, TimeUnit.SECONDS)) {
      process.destroy();
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(5, TimeUnit.SECONDS);
      }
    }
    children.forEach(ProcessHandle::destroyForcibly);
  }

  private static void deleteRecursively(Path dir) throws IOException, InterruptedException {
    for (int attempt = 0; ; attempt++) {
      try (Stream<Path> paths = Files.walk(dir)) {
        for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
        return;
      } catch (NoSuchFileException e) {
        if (!Files.exists(dir)) {
          return;
        }
        Thread.sleep(100);
      } catch (IOException e) {
        if (attempt >= 20) {
          throw e;
        }
        Thread.sleep(100); // a child process may still be writing its last files
      }
    }
  }

  /** Routes DevTools replies to the calls awaiting them; events are ignored. */
  private static final class Replies implements WebSocket.Listener {
    private final Map<Integer, CompletableFuture<JsonNode>> waiting = new ConcurrentHashMap<>();
    private final StringBuilder partial = new StringBuilder();

    CompletableFuture<JsonNode> expect(int id) {
      CompletableFuture<JsonNode> f = new CompletableFuture<>();
      waiting.put(id, f);
      return f;
    }

    @Override
    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        String message = partial.toString();
        partial.setLength(0);
        try {
          JsonNode n = JSON.readTree(message);
          if (n.has("id")) {
            CompletableFuture<JsonNode> f = waiting.remove(n.get("id").asInt());
            if (f != null) {
              f.complete(n);
            }
          }
        } catch (JsonProcessingException e) {
          waiting.values().forEach(f -> f.completeExceptionally(e));
        }
      }
      webSocket.request(1);
      return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
      waiting.values().forEach(f -> f.completeExceptionally(new IOException("DevTools connection closed: " + statusCode + " " + reason)));
      return null;
    }

    @Override
    public void onError(WebSocket webSocket, Throwable error) {
      waiting.values().forEach(f -> f.completeExceptionally(error));
    }
  }
}
