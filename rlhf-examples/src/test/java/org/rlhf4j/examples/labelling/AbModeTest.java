package org.rlhf4j.examples.labelling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.reward.eval.WinRate;
import org.rlhf4j.reward.feedback.AbChoice;
import org.rlhf4j.reward.feedback.AbItem;
import org.rlhf4j.reward.feedback.AbJudgement;
import org.rlhf4j.reward.feedback.AbStore;
import org.rlhf4j.reward.feedback.FailingStores;

/** The blind A/B mode: pairing sample files, the API (blind, durable), and the app end to end with its report. */
class AbModeTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();

  @TempDir Path tmp;

  /** Writes the quick-start's sample format: {"prompt","response","score","kl"} per line. */
  private Path samples(String name, int n, String prefix) throws Exception {
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      lines.add(JSON.writeValueAsString(Map.of("prompt", "Prompt " + i, "response", prefix + " answer " + i, "score", 0.5 * i, "kl", 0.01)));
    }
    Path f = tmp.resolve(name);
    Files.write(f, lines);
    return f;
  }

  @Test
  void samplesArePairedByLineWithASeededSideForEachItem() throws Exception {
    Path ppo = samples("samples-ppo.jsonl", 20, "good");
    Path sft = samples("samples-sft.jsonl", 20, "plain");
    List<AbItem> a = AbSession.pairSamples(ppo, "ppo", sft, "sft", 7);
    assertEquals(a, AbSession.pairSamples(ppo, "ppo", sft, "sft", 7), "same seed, same sides");
    assertNotEquals(a, AbSession.pairSamples(ppo, "ppo", sft, "sft", 8));
    long ppoFirst = a.stream().filter(it -> it.policyA().equals("ppo")).count();
    assertTrue(ppoFirst > 0 && ppoFirst < 20, "both sides are used: " + ppoFirst);
    for (int i = 0; i < 20; i++) {
      AbItem it = a.get(i);
      assertEquals("ab-" + (i + 1), it.itemId());
      assertEquals("Prompt " + i, it.prompt());
      String ppoResponse = it.policyA().equals("ppo") ? it.responseA() : it.responseB();
      assertEquals("good answer " + i, ppoResponse);
    }

    Files.writeString(tmp.resolve("other.jsonl"), Files.readString(sft).replace("Prompt 3\"", "Prompt three\""));
    DataFormatException e = assertThrows(DataFormatException.class, () -> AbSession.pairSamples(ppo, "ppo", tmp.resolve("other.jsonl"), "sft", 7));
    assertTrue(e.getMessage().contains("other.jsonl:4") && e.getMessage().contains("Prompt three"), e.getMessage());
    Path short1 = samples("short.jsonl", 19, "plain");
    IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> AbSession.pairSamples(ppo, "ppo", short1, "sft", 7));
    assertTrue(e2.getMessage().contains("20") && e2.getMessage().contains("19"), e2.getMessage());
    Files.writeString(tmp.resolve("bad.jsonl"), "{\"prompt\":\"p\"}\n");
    e = assertThrows(DataFormatException.class, () -> AbSession.pairSamples(tmp.resolve("bad.jsonl"), "ppo", sft, "sft", 7));
    assertTrue(e.getMessage().contains("bad.jsonl:1") && e.getMessage().contains("response"), e.getMessage());
  }

  private record Reply(int status, JsonNode json) {}

  private static Reply call(URI base, String path, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(30));
    if (body != null) {
      b.header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
    }
    HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    return new Reply(r.statusCode(), JSON.readTree(r.body()));
  }

  @Test
  void theApiIsBlindDurableAndRefusesBadAnswers() throws Exception {
    List<AbItem> items = AbSession.pairSamples(samples("samples-ppo.jsonl", 3, "good"), "ppo", samples("samples-sft.jsonl", 3, "plain"), "sft", 1);
    AtomicBoolean full = new AtomicBoolean(false);
    try (AbStore store = FailingStores.abStore(tmp.resolve("ab.jsonl"), full)) {
      AbSession session = new AbSession(store, items, "ppo", "sft", "web");
      try (LabellingServer server = LabellingServer.startAb(session, "127.0.0.1", 0, LabellingServer.Limits.DEFAULT)) {
        URI base = server.uri();
        Reply page = new Reply(HTTP.send(HttpRequest.newBuilder(base).build(), HttpResponse.BodyHandlers.ofString()).statusCode(), null);
        assertEquals(200, page.status());
        String html = HTTP.send(HttpRequest.newBuilder(base).build(), HttpResponse.BodyHandlers.ofString()).body();
        assertTrue(html.contains("id=\"choose-a\"") && html.contains("/ab.js"), html);

        Reply next = call(base, "/api/ab/next", null);
        assertEquals(200, next.status());
        assertEquals("ab-1", next.json().get("itemId").asText());
        assertEquals(List.of(items.get(0).responseA(), items.get(0).responseB()), JSON.convertValue(next.json().get("responses"), List.class));
        String text = next.json().toString();
        assertFalse(text.contains("ppo") || text.contains("sft") || text.contains("policy"), "the policies stay hidden: " + text);
        assertEquals(JSON.readTree("{\"judged\":0,\"skipped\":0,\"total\":3}"), next.json().get("progress"));

        assertEquals(400, call(base, "/api/ab/choose", "{\"itemId\":\"ab-1\",\"choice\":\"C\"}").status());
        assertEquals(400, call(base, "/api/ab/choose", "{\"itemId\":\"ab-1\",\"choice\":1}").status());
        assertEquals(400, call(base, "/api/ab/choose", "{\"itemId\":\"ab-1\"}").status());
        assertEquals(404, call(base, "/api/ab/choose", "{\"itemId\":\"ab-9\",\"choice\":\"A\"}").status());
        assertEquals(404, call(base, "/api/next", null).status(), "the ranking API is off in A/B mode");
        full.set(true);
        Reply failed = call(base, "/api/ab/choose", "{\"itemId\":\"ab-1\",\"choice\":\"A\"}");
        assertEquals(500, failed.status());
        assertEquals(0, Files.size(tmp.resolve("ab.jsonl")), "no partial line");
        full.set(false);
        assertEquals(0, store.size());

        Reply ok = call(base, "/api/ab/choose", "{\"itemId\":\"ab-1\",\"choice\":\"A\"}");
        assertEquals(200, ok.status(), ok.json().toString());
        assertEquals("A", ok.json().get("choice").asText());
        assertTrue(Files.readString(tmp.resolve("ab.jsonl")).contains("\"choice\":\"A\""), "on disk before the 200");
        assertEquals(409, call(base, "/api/ab/choose", "{\"itemId\":\"ab-1\",\"choice\":\"B\"}").status());
        Reply skipped = call(base, "/api/ab/skip", "{\"itemId\":\"ab-2\"}");
        assertEquals(200, skipped.status());
        assertTrue(skipped.json().get("skipped").asBoolean());
        assertEquals(409, call(base, "/api/ab/choose", "{\"itemId\":\"ab-2\",\"choice\":\"A\"}").status());
        assertEquals("ab-3", call(base, "/api/ab/next", null).json().get("itemId").asText());
        assertEquals(200, call(base, "/api/ab/choose", "{\"itemId\":\"ab-3\",\"choice\":\"tie\"}").status());
        Reply done = call(base, "/api/ab/next", null);
        assertTrue(done.json().get("done").asBoolean());
        assertEquals(JSON.readTree("{\"judged\":2,\"skipped\":1,\"total\":3}"), done.json().get("progress"));
        assertTrue(session.finished());
      }
      AbJudgement first = store.records().get(0);
      assertEquals(items.get(0), first.item(), "which policy was shown where is stored");
      assertEquals(AbChoice.A, first.choice());
      assertEquals("web", first.labeller());
      WinRate w = session.report();
      assertEquals((items.get(0).policyA().equals("ppo") ? 1 : 0) + 0.5, w.wins() + 0.5 * w.ties());
      assertEquals(2, w.n());
    }
  }

  /** The app serves until every item is answered, writes the report, and a restart shows nothing again. */
  @Test
  void theAppServesUntilEveryItemIsAnsweredAndReportsTheWinRate() throws Exception {
    Path ppo = samples("samples-ppo.jsonl", 6, "good");
    Path sft = samples("samples-sft.jsonl", 6, "plain");
    Path out = tmp.resolve("out");
    LabellingApp.AbOptions o = LabellingApp.AbOptions.parse(new String[] {"--ab", ppo.toString(), sft.toString(), "--out", out.toString(), "--port", "0", "--seed", "5"});
    assertEquals("ppo", o.nameA());
    assertEquals("sft", o.nameB());
    CompletableFuture<URI> ready = new CompletableFuture<>();
    CompletableFuture<WinRate> done = CompletableFuture.supplyAsync(() -> {
      try {
        return LabellingApp.runAb(o, ready::complete);
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    });
    URI base = ready.get(60, TimeUnit.SECONDS);
    // A "person" who prefers the good answers, except one tie; then skips nothing. Exactly six answers.
    for (int i = 0; i < 6; i++) {
      JsonNode next = call(base, "/api/ab/next", null).json();
      assertFalse(next.get("done").asBoolean());
      String choice = i == 5 ? "tie" : next.get("responses").get(0).asText().startsWith("good") ? "A" : "B";
      assertEquals(200, call(base, "/api/ab/choose", JSON.writeValueAsString(Map.of("itemId", next.get("itemId").asText(), "choice", choice))).status());
    }
    WinRate w = done.get(60, TimeUnit.SECONDS);
    assertEquals(WinRate.of("ppo", "sft", 5, 0, 1), w);
    JsonNode report = JSON.readTree(out.resolve("ab-report.json").toFile());
    assertEquals(5, report.get("wins").asInt());
    assertEquals(1, report.get("ties").asInt());
    assertEquals(w.rate(), report.get("winRate").asDouble(), 1e-12);
    assertEquals(w.low(), report.get("low").asDouble(), 1e-12);
    assertEquals("ppo", report.get("policy").asText());

    AtomicBoolean served = new AtomicBoolean(false);
    assertEquals(w, LabellingApp.runAb(o, u -> served.set(true)), "the restart reports from the store");
    assertFalse(served.get(), "nothing left to judge: the page is not served again");
    assertTrue(AbSession.describe(w).contains("91.7%"), AbSession.describe(w));
  }
}
