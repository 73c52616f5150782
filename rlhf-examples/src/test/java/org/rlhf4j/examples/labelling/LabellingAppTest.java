package org.rlhf4j.examples.labelling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.ppo.loop.RoundReport;
import org.rlhf4j.reward.feedback.ComparisonStore;

/** The app end to end over HTTP: a "person" answers through the API, rounds complete, a restart resumes. */
class LabellingAppTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  private LabellingApp.Options options(int rounds) throws Exception {
    ByteTokenizer tok = ByteTokenizer.create();
    Path sft = tmp.resolve("sft");
    if (!Files.exists(sft)) {
      GptConfig c = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(16).heads(2).layers(1).contextLength(64).build();
      ModelCheckpoint.save(sft, GptModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, 1)), Provenance.of("random-init", 1, Map.of(), null), Map.of(), tok);
      Files.write(tmp.resolve("prompts.txt"), List.of("Hello", "The film", "", "Once"));
    }
    return new LabellingApp.Options(sft, null, tmp.resolve("prompts.txt"), tmp.resolve("out"), rounds, 2, 2, 1, 0, 3);
  }

  /**
   * Answers (ranking [1, 0]) exactly the {@code expectedItems} items the app will ask for, then waits
   * for it to finish. The app closes its server as soon as its last round ends, so polling "until the
   * app is done" races that close; counting the answers does not. A refused connection before that
   * count means the app ended early: its own outcome is then reported, never the connection error.
   */
  private static List<RoundReport> runAnswering(LabellingApp.Options o, int expectedItems) throws Exception {
    CompletableFuture<URI> ready = new CompletableFuture<>();
    CompletableFuture<List<RoundReport>> done = CompletableFuture.supplyAsync(() -> {
      try {
        return LabellingApp.run(o, ready::complete);
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    });
    URI base = ready.get(60, TimeUnit.SECONDS);
    HttpClient http = HttpClient.newHttpClient();
    int answered = 0;
    while (answered < expectedItems && !done.isDone()) {
      JsonNode next;
      try {
        next = JSON.readTree(http.send(HttpRequest.newBuilder(base.resolve("/api/next")).build(), HttpResponse.BodyHandlers.ofString()).body());
      } catch (IOException e) {
        // Only the app's end closes the server: report how it ended.
        List<RoundReport> early = done.get(60, TimeUnit.SECONDS);
        fail("the app finished after " + answered + " of " + expectedItems + " answers: " + early, e);
        return early;
      }
      if (next.has("itemId")) {
        String body = JSON.writeValueAsString(Map.of("itemId", next.get("itemId").asText(), "ranking", List.of(1, 0)));
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/api/label")).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        answered++;
      } else {
        Thread.sleep(50); // the app is training; the answer count, not this pause, ends the loop
      }
    }
    List<RoundReport> reports = done.get(120, TimeUnit.SECONDS);
    assertEquals(expectedItems, answered, "answers given before the app finished");
    return reports;
  }

  @Test
  void roundsCompleteWithAnswersFromThePageAndARestartResumes() throws Exception {
    List<RoundReport> first = runAnswering(options(1), 2);
    assertEquals(1, first.size());
    assertEquals(2, first.get(0).ranked());
    List<RoundReport> second = runAnswering(options(2), 2);
    assertEquals(1, second.size(), "the restarted app runs only the remaining round");
    assertEquals(1, second.get(0).round());
    try (ComparisonStore store = ComparisonStore.open(tmp.resolve("out/comparisons.jsonl"))) {
      assertEquals(4, store.size());
      assertTrue(store.records().stream().allMatch(c -> c.order().equals(List.of(1, 0)) && c.labeller().equals("web")));
    }
  }
}
