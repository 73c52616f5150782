package org.rlhf4j.examples.labelling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.reward.eval.WinRate;
import org.rlhf4j.reward.feedback.AbChoice;
import org.rlhf4j.reward.feedback.AbItem;
import org.rlhf4j.reward.feedback.AbJudgement;
import org.rlhf4j.reward.feedback.AbStore;
import org.rlhf4j.reward.feedback.ComparisonStore;
import org.rlhf4j.reward.feedback.LabelRequest;
import org.rlhf4j.reward.feedback.LabelResult;
import org.rlhf4j.reward.feedback.StoredComparison;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A person's session on the labelling page, in a real headless Chromium: two items ranked by
 * clicking, checked in the comparison store; and three blind A/B items judged by clicking. Needs Debian's {@code chromium} package and fails,
 * saying how to install it, without it. With {@code -Drlhf4j.screenshot=FILE} it also writes a PNG
 * of the page with two responses ranked (the README's {@code docs/labelling-page.png}).
 */
class LabellingPageBrowserTest {
  private static final Logger LOG = LoggerFactory.getLogger(LabellingPageBrowserTest.class);
  private static final Duration WAIT = Duration.ofSeconds(20);
  private static final ObjectMapper JSON = new ObjectMapper();

  private static final LabelRequest FIRST = LabelRequest.of("r2-p7", "The acting is", List.of(
      "uneven, but the final act earns every tear it asks for.",
      "superb across the board; even the smallest roles feel lived in, and the two leads are electric together.",
      "acting is the acting of the film is acting."), 2, "policy-round-2");
  private static final LabelRequest SECOND = LabelRequest.of("r2-p8", "I left the cinema", List.of(
      "humming the score and planning a second viewing.",
      "wondering why anyone thought this needed two and a half hours."), 2, "policy-round-2");

  @TempDir Path tmp;

  /** The rank badges of the shown item's cards, in card order ("" for unranked). */
  private static String ranks(HeadlessChromium browser) {
    return browser.evaluate("[...document.querySelectorAll('#responses .response')].map(c => c.querySelector('.rank').textContent).join(',')").asText();
  }

  private static void clickResponse(HeadlessChromium browser, int index) {
    browser.click("#responses .response[data-index=\"" + index + "\"]");
  }

  private static void awaitItem(HeadlessChromium browser, LabelRequest item) throws InterruptedException {
    browser.waitUntil("document.body.dataset.state === 'item' && document.getElementById('item').dataset.itemId === '" + item.itemId() + "'", WAIT);
    assertEquals(item.prompt(), browser.text("#prompt"));
    assertEquals(item.k(), browser.evaluate("document.querySelectorAll('#responses .response').length").asInt());
    for (int i = 0; i < item.k(); i++) {
      assertEquals(item.responses().get(i), browser.text("#responses .response[data-index=\"" + i + "\"] .response-text"));
    }
  }

  private static void awaitRanks(HeadlessChromium browser, String expected) throws InterruptedException {
    browser.waitUntil("[...document.querySelectorAll('#responses .response')].map(c => c.querySelector('.rank').textContent).join(',') === '" + expected + "'", WAIT);
  }

  @Test
  void aPersonRanksTwoItemsByClickingAndTheStoreHoldsThem() throws Exception {
    long start = System.nanoTime();
    ExecutorService loop = Executors.newSingleThreadExecutor();
    try (ComparisonStore store = ComparisonStore.open(tmp.resolve("comparisons.jsonl"));
        HeadlessChromium browser = HeadlessChromium.launch(1000, 700)) {
      long launched = System.nanoTime();
      WebLabeller labeller = new WebLabeller(store, "browser-test");
      labeller.setStatus(TrainingStatus.NONE.withStage("Round 2: the policy is waiting for your rankings")
          .withRewardModelAccuracy(0.687).withPpoScore(0.42));
      try (LabellingServer server = LabellingServer.start(labeller, "127.0.0.1", 0)) {
        Future<List<LabelResult>> results = loop.submit(() -> labeller.labelAll(List.of(FIRST, SECOND)));
        LabellingWebLabellerTest.awaitPending(labeller, List.of(FIRST.itemId(), SECOND.itemId()));
        // No transitions, so the screenshot never catches a card half-way through its highlight.
        browser.call("Emulation.setEmulatedMedia", (ObjectNode) JSON.readTree("{\"features\":[{\"name\":\"prefers-reduced-motion\",\"value\":\"reduce\"}]}"));
        browser.navigate(server.uri().toString());

        // First item: rank B then A, look at it, then C, and submit.
        awaitItem(browser, FIRST);
        assertEquals("0 of 2 labelled this round", browser.text("#progress"));
        assertEquals("2", browser.text("#round"));
        assertEquals("68.7%", browser.text("#rm-accuracy"));
        assertEquals("0.42", browser.text("#ppo-score"));
        assertEquals(",,", ranks(browser));
        clickResponse(browser, 1);
        clickResponse(browser, 0);
        awaitRanks(browser, "2,1,");
        assertTrue(browser.evaluate("document.getElementById('submit').disabled").asBoolean(), "Submit waits for all three");
        assertEquals("2 of 3 ranked", browser.text("#rank-count"));
        byte[] png = browser.screenshot();
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4));
        String target = System.getProperty("rlhf4j.screenshot");
        if (target != null && !target.isBlank()) {
          Path out = Path.of(target).toAbsolutePath();
          Files.createDirectories(out.getParent());
          Files.write(out, png);
          LOG.warn("wrote the labelling page's screenshot to {} ({} bytes)", out, png.length);
        }
        clickResponse(browser, 2);
        awaitRanks(browser, "2,1,3");
        browser.waitUntil("!document.getElementById('submit').disabled", WAIT);
        browser.click("#submit");

        // Second item: rank, un-rank, reset, then rank B over A and submit.
        awaitItem(browser, SECOND);
        browser.waitUntil("document.getElementById('progress').textContent === '1 of 2 labelled this round'", WAIT);
        clickResponse(browser, 0);
        awaitRanks(browser, "1,");
        clickResponse(browser, 0);
        awaitRanks(browser, ",");
        clickResponse(browser, 0);
        clickResponse(browser, 1);
        awaitRanks(browser, "1,2");
        browser.click("#reset");
        awaitRanks(browser, ",");
        clickResponse(browser, 1);
        clickResponse(browser, 0);
        awaitRanks(browser, "2,1");
        browser.click("#submit");

        browser.waitUntil("document.body.dataset.state === 'waiting'", WAIT);
        assertEquals("2 of 2 labelled this round", browser.text("#progress"));
        List<LabelResult> answers = results.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(List.of(1, 0, 2), answers.get(0).order());
        assertEquals(List.of(1, 0), answers.get(1).order());
      }
      List<StoredComparison> stored = store.records();
      assertEquals(2, stored.size(), "exactly the two rankings: " + stored);
      assertEquals(FIRST.itemId(), stored.get(0).itemId());
      assertEquals(List.of(1, 0, 2), stored.get(0).order());
      assertEquals(FIRST.responses(), stored.get(0).responses());
      assertEquals(SECOND.itemId(), stored.get(1).itemId());
      assertEquals(List.of(1, 0), stored.get(1).order());
      assertEquals("browser-test", stored.get(1).labeller());
      LOG.warn("browser test: Chromium started in {} ms, whole session {} ms",
          (launched - start) / 1_000_000, (System.nanoTime() - start) / 1_000_000);
    } finally {
      loop.shutdownNow();
    }
  }

  /** The blind A/B page: a person judges three items by clicking A, B and Tie; the store holds the verdicts. */
  @Test
  void aPersonJudgesBlindAbItemsByClicking() throws Exception {
    List<AbItem> items = List.of(
        new AbItem("ab-1", "The plot", "ppo", "twists twice and lands both.", "sft", "is a plot."),
        new AbItem("ab-2", "The music", "sft", "is music.", "ppo", "swells exactly when it should."),
        new AbItem("ab-3", "The ending", "ppo", "is quiet.", "sft", "is quiet, too."));
    try (AbStore store = AbStore.open(tmp.resolve("ab.jsonl"));
        HeadlessChromium browser = HeadlessChromium.launch(1000, 700)) {
      AbSession session = new AbSession(store, items, "ppo", "sft", "browser-test");
      try (LabellingServer server = LabellingServer.startAb(session, "127.0.0.1", 0, LabellingServer.Limits.DEFAULT)) {
        browser.navigate(server.uri().toString());
        String[] clicks = {"#choose-a", "#choose-b", "#choose-tie"};
        for (int i = 0; i < items.size(); i++) {
          AbItem it = items.get(i);
          browser.waitUntil("document.body.dataset.state === 'item' && document.getElementById('item').dataset.itemId === '" + it.itemId() + "'", WAIT);
          assertEquals(it.prompt(), browser.text("#prompt"));
          assertEquals(it.responseA(), browser.text("#response-a"));
          assertEquals(it.responseB(), browser.text("#response-b"));
          assertEquals(i + " of 3 judged, " + (3 - i) + " to go", browser.text("#progress"));
          String page = browser.evaluate("document.body.innerText").asText();
          assertFalse(page.contains("ppo") || page.contains("sft"), "the policies stay hidden: " + page);
          browser.click(clicks[i]);
        }
        browser.waitUntil("document.body.dataset.state === 'done'", WAIT);
        assertEquals("3 of 3 judged", browser.text("#progress"));
        assertTrue(session.finished());
      }
      assertEquals(List.of(AbChoice.A, AbChoice.B, AbChoice.TIE), store.records().stream().map(AbJudgement::choice).toList());
      assertEquals(items, store.records().stream().map(AbJudgement::item).toList());
      assertEquals(WinRate.of("ppo", "sft", 2, 0, 1), store.winRate("ppo", "sft"));
    }
  }

  @Test
  void withoutChromiumTheTestFailsSayingHowToInstallIt() {
    Path missing = tmp.resolve("no-such-chromium");
    AssertionError e = assertThrows(AssertionError.class, () -> HeadlessChromium.launch(missing, 800, 600));
    assertTrue(e.getMessage().contains("apt-get install -y --no-install-recommends chromium"), e.getMessage());
    assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    assertFalse(Files.exists(missing));
  }
}
