package org.rlhf4j.examples.labelling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import org.rlhf4j.core.model.GptConfig;
import org.rlhf4j.core.model.GptModel;
import org.rlhf4j.core.model.ModelOptions;
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

  /** Answers every item the page offers (ranking [1, 0]) until the app finishes. */
  private static List<RoundReport> runAnswering(LabellingApp.Options o) throws Exception {
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
    while (!done.isDone()) {
      JsonNode next = JSON.readTree(http.send(HttpRequest.newBuilder(base.resolve("/api/next")).build(), HttpResponse.BodyHandlers.ofString()).body());
      if (next.has("itemId")) {
        String body = JSON.writeValueAsString(Map.of("itemId", next.get("itemId").asText(), "ranking", List.of(1, 0)));
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/api/label")).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
      } else {
        Thread.sleep(50);
      }
    }
    return done.get();
  }

  @Test
  void roundsCompleteWithAnswersFromThePageAndARestartResumes() throws Exception {
    List<RoundReport> first = runAnswering(options(1));
    assertEquals(1, first.size());
    assertEquals(2, first.get(0).ranked());
    List<RoundReport> second = runAnswering(options(2));
    assertEquals(1, second.size(), "the restarted app runs only the remaining round");
    assertEquals(1, second.get(0).round());
    try (ComparisonStore store = ComparisonStore.open(tmp.resolve("out/comparisons.jsonl"))) {
      assertEquals(4, store.size());
      assertTrue(store.records().stream().allMatch(c -> c.order().equals(List.of(1, 0)) && c.labeller().equals("web")));
    }
  }
}
