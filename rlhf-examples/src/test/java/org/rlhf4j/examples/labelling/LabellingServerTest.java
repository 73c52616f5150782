package org.rlhf4j.examples.labelling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.reward.feedback.ComparisonStore;
import org.rlhf4j.reward.feedback.LabelRequest;
import org.rlhf4j.reward.feedback.LabelResult;

class LabellingServerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();

  @TempDir Path tmp;
  private ComparisonStore store;
  private WebLabeller labeller;
  private LabellingServer server;
  private final ExecutorService loop = Executors.newSingleThreadExecutor();

  @BeforeEach
  void start() {
    store = ComparisonStore.open(tmp.resolve("comparisons.jsonl"));
    labeller = new WebLabeller(store, "web");
    server = LabellingServer.start(labeller, "127.0.0.1", 0);
  }

  @AfterEach
  void stop() {
    server.close();
    loop.shutdownNow();
    store.close();
  }

  private record Reply(int status, String contentType, String body) {
    JsonNode json() throws IOException {
      assertTrue(contentType.startsWith("application/json"), "JSON reply expected, got " + contentType);
      return JSON.readTree(body);
    }
  }

  private Reply send(HttpRequest.Builder b) throws IOException, InterruptedException {
    HttpResponse<String> r = HTTP.send(b.timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    return new Reply(r.statusCode(), r.headers().firstValue("Content-Type").orElse(""), r.body());
  }

  private HttpRequest.Builder at(String path) {
    return HttpRequest.newBuilder(server.uri().resolve(path));
  }

  private Reply get(String path) throws IOException, InterruptedException {
    return send(at(path).GET());
  }

  private Reply post(String path, String json) throws IOException, InterruptedException {
    return send(at(path).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json)));
  }

  /** Publishes {@code requests} from a background "training loop". */
  private Future<List<LabelResult>> publish(LabelRequest... requests) throws InterruptedException {
    Future<List<LabelResult>> f = loop.submit(() -> labeller.labelAll(List.of(requests)));
    LabellingWebLabellerTest.awaitPending(labeller, Arrays.stream(requests).map(LabelRequest::itemId).toList());
    return f;
  }

  private static LabelRequest request(String id, String... responses) {
    return LabelRequest.of(id, "Say something about " + id, List.of(responses), 4, "policy-4");
  }

  @Test
  void bindsLoopbackOnAnEphemeralPortAndServesThePage() throws Exception {
    assertTrue(server.port() > 0);
    assertEquals("127.0.0.1", server.uri().getHost());
    Reply page = get("/");
    assertEquals(200, page.status());
    assertTrue(page.contentType().startsWith("text/html"), page.contentType());
    for (String id : List.of("id=\"prompt\"", "id=\"responses\"", "id=\"submit\"", "id=\"skip\"", "id=\"reset\"", "id=\"progress\"", "/labelling.js", "/labelling.css")) {
      assertTrue(page.body().contains(id), id);
    }
    assertFalse(page.body().contains("https://"), "no external resources");
    Reply js = get("/labelling.js");
    assertEquals(200, js.status());
    assertTrue(js.contentType().startsWith("text/javascript"), js.contentType());
    assertTrue(js.body().contains("/api/label"));
    assertTrue(get("/labelling.css").contentType().startsWith("text/css"));
    Reply missing = get("/secret.txt");
    assertEquals(404, missing.status());
    assertTrue(missing.json().get("error").asText().contains("/secret.txt"));
  }

  @Test
  void nextRankSkipAndStatusDriveTheLoop() throws Exception {
    JsonNode empty = get("/api/next").json();
    assertTrue(empty.get("done").asBoolean());
    assertTrue(empty.get("progress").get("round").isNull());

    Future<List<LabelResult>> results = publish(request("a", "one", "two", "three"), request("b", "ja", "nein"));
    JsonNode a = get("/api/next").json();
    assertFalse(a.get("done").asBoolean());
    assertEquals("a", a.get("itemId").asText());
    assertEquals("Say something about a", a.get("prompt").asText());
    assertEquals(List.of("one", "two", "three"), JSON.convertValue(a.get("responses"), List.class));
    assertEquals(4, a.get("round").asInt());
    assertEquals("policy-4", a.get("modelVersion").asText());
    assertEquals(JSON.readTree("{\"round\":4,\"labelled\":0,\"skipped\":0,\"total\":2}"), a.get("progress"));
    assertTrue(a.get("status").get("rewardModelAccuracy").isNull());

    Reply ranked = post("/api/label", "{\"itemId\":\"a\",\"ranking\":[2,0,1]}");
    assertEquals(200, ranked.status(), ranked.body());
    assertEquals(List.of(2, 0, 1), JSON.convertValue(ranked.json().get("ranking"), List.class));
    assertEquals(1, ranked.json().get("progress").get("labelled").asInt());
    String onDisk = Files.readString(store.file(), StandardCharsets.UTF_8);
    assertTrue(onDisk.contains("\"item\":\"a\"") && onDisk.contains("\"ranking\":[2,0,1]"), "stored before the 200: " + onDisk);

    labeller.setStatus(TrainingStatus.NONE.withStage("Round 4: waiting for labels").withRewardModelAccuracy(0.6875));
    JsonNode b = get("/api/next").json();
    assertEquals("b", b.get("itemId").asText());
    assertEquals(0.6875, b.get("status").get("rewardModelAccuracy").asDouble());
    assertEquals("Round 4: waiting for labels", b.get("status").get("stage").asText());
    Reply skipped = post("/api/skip", "{\"itemId\":\"b\"}");
    assertEquals(200, skipped.status(), skipped.body());
    assertTrue(skipped.json().get("skipped").asBoolean());

    List<LabelResult> r = results.get(10, TimeUnit.SECONDS);
    assertEquals(List.of(2, 0, 1), r.get(0).order());
    assertEquals("web", r.get(0).labeller());
    assertTrue(r.get(1).isSkip());
    assertEquals(1, store.size());

    JsonNode done = get("/api/next").json();
    assertTrue(done.get("done").asBoolean());
    assertEquals(JSON.readTree("{\"round\":4,\"labelled\":2,\"skipped\":1,\"total\":2}"), done.get("progress"));
    labeller.setStatus(labeller.status().withPpoScore(-0.5));
    JsonNode status = get("/api/status").json();
    assertEquals(-0.5, status.get("status").get("ppoScore").asDouble());
    assertEquals(0, status.get("waiting").asInt());
  }

  @Test
  void everyRefusalIsAJsonErrorAndChangesNothing() throws Exception {
    Future<List<LabelResult>> results = publish(request("a", "one", "two", "three"));
    assertEquals(200, post("/api/label", "{\"itemId\":\"a\",\"ranking\":[0,1,2]}").status());
    results.get(10, TimeUnit.SECONDS);
    Future<List<LabelResult>> waitingForB = publish(request("b", "one", "two", "three"));

    List<Object[]> cases = List.of(
        new Object[] {400, post("/api/label", "{\"itemId\":\"b\",\"ranking\":[0,1,")},
        new Object[] {400, post("/api/label", "[\"b\"]")},
        new Object[] {400, post("/api/label", "")},
        new Object[] {400, post("/api/label", "{\"ranking\":[0,1,2]}")},
        new Object[] {400, post("/api/label", "{\"itemId\":7,\"ranking\":[0,1,2]}")},
        new Object[] {400, post("/api/label", "{\"itemId\":\"b\"}")},
        new Object[] {400, post("/api/label", "{\"itemId\":\"b\",\"ranking\":\"0,1,2\"}")},
        new Object[] {400, post("/api/label", "{\"itemId\":\"b\",\"ranking\":[0,1,1]}")},
        new Object[] {400, post("/api/label", "{\"itemId\":\"b\",\"ranking\":[0,1]}")},
        new Object[] {400, post("/api/label", "{\"itemId\":\"b\",\"ranking\":[0,1,2,3]}")},
        new Object[] {400, post("/api/label", "{\"itemId\":\"b\",\"ranking\":[0,1,2.5]}")},
        new Object[] {400, post("/api/label", "{\"itemId\":\"b\",\"ranking\":[0,1,-2]}")},
        new Object[] {400, post("/api/label", "{\"itemId\":\"b\",\"ranking\":[0,1,4294967298]}")},
        new Object[] {400, post("/api/skip", "{}")},
        new Object[] {404, post("/api/label", "{\"itemId\":\"zz\",\"ranking\":[0,1,2]}")},
        new Object[] {404, post("/api/skip", "{\"itemId\":\"zz\"}")},
        new Object[] {409, post("/api/label", "{\"itemId\":\"a\",\"ranking\":[2,1,0]}")},
        new Object[] {409, post("/api/skip", "{\"itemId\":\"a\"}")},
        new Object[] {405, get("/api/label")},
        new Object[] {405, get("/api/skip")},
        new Object[] {405, post("/api/next", "{}")},
        new Object[] {405, post("/api/status", "{}")},
        new Object[] {405, send(at("/").DELETE())},
        new Object[] {415, send(at("/api/skip").header("Content-Type", "text/plain").POST(HttpRequest.BodyPublishers.ofString("{\"itemId\":\"b\"}")))},
        new Object[] {415, send(at("/api/skip").POST(HttpRequest.BodyPublishers.ofString("{\"itemId\":\"b\"}")))},
        new Object[] {413, post("/api/label", "{\"itemId\":\"b\",\"pad\":\"" + "x".repeat(LabellingServer.MAX_BODY_BYTES) + "\",\"ranking\":[0,1,2]}")},
        new Object[] {413, send(at("/api/label").header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(("{\"itemId\":\"b\",\"pad\":\"" + "x".repeat(LabellingServer.MAX_BODY_BYTES) + "\",\"ranking\":[0,1,2]}").getBytes(StandardCharsets.UTF_8)))))});
    for (int i = 0; i < cases.size(); i++) {
      int expected = (Integer) cases.get(i)[0];
      Reply r = (Reply) cases.get(i)[1];
      assertEquals(expected, r.status(), "case " + i + ": " + r.body());
      String error = r.json().get("error").asText();
      assertFalse(error.isBlank(), "case " + i + " explains itself");
    }
    assertEquals("POST", HTTP.send(at("/api/label").GET().build(), HttpResponse.BodyHandlers.discarding()).headers().firstValue("Allow").orElse(""));

    assertEquals(1, store.size());
    assertEquals(List.of("b"), labeller.pendingItems());
    assertEquals(new RoundProgress(OptionalInt.of(4), 1, 0, 2), labeller.progress());
    assertEquals(200, post("/api/label", "{\"itemId\":\"b\",\"ranking\":[1,2,0]}").status(), "the server still answers after the refusals");
    assertEquals(List.of(1, 2, 0), waitingForB.get(10, TimeUnit.SECONDS).get(0).order());
  }

  @Test
  void anOversizedBodyIsRefusedWithoutWaitingForIt() throws Exception {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", server.port()), 10_000);
      socket.setSoTimeout(10_000);
      OutputStream out = socket.getOutputStream();
      out.write(("POST /api/label HTTP/1.1\r\nHost: 127.0.0.1:" + server.port() + "\r\nContent-Type: application/json\r\n"
          + "Content-Length: 1000000000\r\n\r\n{\"itemId\":").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = socket.getInputStream();
      String head = new String(in.readNBytes(12), StandardCharsets.US_ASCII);
      assertEquals("HTTP/1.1 413", head, "the reply comes before the gigabyte it announced");
    }
    assertEquals(200, get("/api/status").status());
  }

  /** Sends {@code request} on a raw socket and returns the reply's status line and the whole reply. */
  private static String[] raw(int port, String request) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      socket.setSoTimeout(30_000);
      socket.getOutputStream().write(request.getBytes(StandardCharsets.UTF_8));
      socket.getOutputStream().flush();
      String reply = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      return new String[] {reply.lines().findFirst().orElse(""), reply};
    }
  }

  private static String rawGet(String path, String host) {
    return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  }

  private static String rawPost(String path, String host, String origin, String json) {
    int n = json.getBytes(StandardCharsets.UTF_8).length;
    return "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + (origin == null ? "" : "Origin: " + origin + "\r\n")
        + "Content-Type: application/json\r\nContent-Length: " + n + "\r\nConnection: close\r\n\r\n" + json;
  }

  /** DNS rebinding: a page of another site reaches 127.0.0.1 under its own host name. */
  @Test
  void aForeignHostOrOriginIsRefusedAndOursIsServed() throws Exception {
    int port = server.port();
    for (String host : List.of("evil.example:" + port, "evil.example", "127.0.0.1:" + (port == 1 ? 2 : 1), "127.0.0.1.evil.example:" + port, "")) {
      for (String path : List.of("/", "/api/next", "/api/status")) {
        String[] r = raw(port, rawGet(path, host));
        assertEquals("HTTP/1.1 403 Forbidden", r[0], host + " " + path);
        assertTrue(r[1].contains("\"error\"") && r[1].contains("Host"), r[1]);
      }
    }
    assertEquals("HTTP/1.1 403 Forbidden", raw(port, "GET /api/status HTTP/1.0\r\n\r\n")[0], "no Host at all");
    for (String host : List.of("127.0.0.1:" + port, "localhost:" + port, "LOCALHOST:" + port)) {
      assertEquals("HTTP/1.1 200 OK", raw(port, rawGet("/api/status", host))[0], host);
    }

    Future<List<LabelResult>> results = publish(request("a", "one", "two"));
    String ours = "127.0.0.1:" + port;
    for (String origin : List.of("http://evil.example:" + port, "null", "http://127.0.0.1:" + (port == 1 ? 2 : 1), "https://127.0.0.1:" + port, "http://127.0.0.1:" + port + ".evil.example")) {
      String[] r = raw(port, rawPost("/api/skip", ours, origin, "{\"itemId\":\"a\"}"));
      assertEquals("HTTP/1.1 403 Forbidden", r[0], origin);
      assertTrue(r[1].contains("origin"), r[1]);
    }
    assertEquals(List.of("a"), labeller.pendingItems(), "nothing was answered by the refused requests");
    assertEquals("HTTP/1.1 403 Forbidden", raw(port, rawPost("/api/label", "evil.example:" + port, null, "{\"itemId\":\"a\",\"ranking\":[0,1]}"))[0]);
    assertEquals(0, store.size());
    String[] ok = raw(port, rawPost("/api/label", ours, "http://127.0.0.1:" + port, "{\"itemId\":\"a\",\"ranking\":[1,0]}"));
    assertEquals("HTTP/1.1 200 OK", ok[0], ok[1]);
    assertEquals(List.of(1, 0), results.get(10, TimeUnit.SECONDS).get(0).order());
  }

  /**
   * Slowloris: more stalled connections than workers, each having sent one byte (or the headers and
   * part of a body). The server still answers others, and closes each stalled connection once the
   * request deadline passes.
   */
  @Test
  void stalledClientsCannotHoldTheServer() throws Exception {
    try (LabellingServer small = LabellingServer.start(labeller, "127.0.0.1", 0, new LabellingServer.Limits(2, Duration.ofMillis(500)))) {
      List<Socket> stalled = new java.util.ArrayList<>();
      try {
        for (int i = 0; i < 6; i++) {
          Socket s = new Socket();
          s.connect(new InetSocketAddress("127.0.0.1", small.port()), 10_000);
          s.setSoTimeout(30_000);
          String start = i % 2 == 0 ? "G"
              : "POST /api/skip HTTP/1.1\r\nHost: 127.0.0.1:" + small.port() + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"itemId\"";
          s.getOutputStream().write(start.getBytes(StandardCharsets.US_ASCII));
          s.getOutputStream().flush();
          stalled.add(s);
        }
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(small.uri().resolve("/api/status")).timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), "answered while six clients stall");
        for (Socket s : stalled) {
          InputStream in = s.getInputStream();
          try {
            byte[] rest = in.readAllBytes(); // ends when the server closes the connection (SO_TIMEOUT bounds it)
            assertFalse(new String(rest, StandardCharsets.US_ASCII).startsWith("HTTP/1.1 200"), "a stalled request was never served");
          } catch (java.net.SocketException reset) {
            // closed by the server with a reset: also a release
          }
        }
      } finally {
        for (Socket s : stalled) {
          s.close();
        }
      }
      assertEquals(200, HTTP.send(HttpRequest.newBuilder(small.uri().resolve("/api/status")).timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.discarding()).statusCode());
    }
  }

  /** A disk-full append: the page gets a 500, the store stays readable and the item can be ranked again. */
  @Test
  void aFailedStoreWriteIsA500AndTheItemStaysWaiting() throws Exception {
    server.close();
    store.close();
    java.util.concurrent.atomic.AtomicBoolean full = new java.util.concurrent.atomic.AtomicBoolean(true);
    store = org.rlhf4j.reward.feedback.FailingStores.comparisonStore(tmp.resolve("full.jsonl"), full);
    labeller = new WebLabeller(store, "web");
    server = LabellingServer.start(labeller, "127.0.0.1", 0);
    Future<List<LabelResult>> results = publish(request("a", "one", "two"));
    Reply r = post("/api/label", "{\"itemId\":\"a\",\"ranking\":[1,0]}");
    assertEquals(500, r.status(), r.body());
    assertTrue(r.json().get("error").asText().contains("full.jsonl"), r.body());
    assertEquals(0, Files.size(tmp.resolve("full.jsonl")), "no partial line left behind");
    assertEquals(List.of("a"), labeller.pendingItems());
    full.set(false);
    assertEquals(200, post("/api/label", "{\"itemId\":\"a\",\"ranking\":[1,0]}").status());
    assertEquals(List.of(1, 0), results.get(10, TimeUnit.SECONDS).get(0).order());
    store.close();
    try (ComparisonStore reopened = ComparisonStore.open(tmp.resolve("full.jsonl"))) {
      assertEquals(1, reopened.size());
      assertTrue(reopened.tornTail().isEmpty());
    }
    store = ComparisonStore.open(tmp.resolve("after.jsonl")); // for stop()
  }

  @Test
  void aClosedServerStopsListening() {
    URI uri = server.uri();
    server.close();
    assertThrows(IOException.class, () -> HTTP.send(HttpRequest.newBuilder(uri.resolve("/api/status")).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding()));
  }
}
