package org.rlhf4j.examples.labelling;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Optional;
import java.util.OptionalDouble;
import org.rlhf4j.reward.feedback.AbChoice;
import org.rlhf4j.reward.feedback.AbItem;
import org.rlhf4j.reward.feedback.LabelRequest;
import org.rlhf4j.reward.feedback.LabelResult;

/** The labelling API's JSON bodies (see {@link LabellingServer} for the format). */
final class LabellingJson {
  static final ObjectMapper MAPPER = new ObjectMapper();

  private LabellingJson() {}

  /** {@code {"done": false, "itemId", "prompt", "responses", "round", "modelVersion", "progress", "status"}}. */
  static ObjectNode item(LabelRequest r, RoundProgress progress, TrainingStatus status) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("done", false);
    o.put("itemId", r.itemId());
    o.put("prompt", r.prompt());
    ArrayNode rs = o.putArray("responses");
    r.responses().forEach(rs::add);
    o.put("round", r.round());
    o.put("modelVersion", r.modelVersion());
    o.set("progress", progress(progress));
    o.set("status", status(status));
    return o;
  }

  /** {@code {"done": true, "progress", "status"}}: nothing is waiting. */
  static ObjectNode done(RoundProgress progress, TrainingStatus status) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("done", true);
    o.set("progress", progress(progress));
    o.set("status", status(status));
    return o;
  }

  /** {@code {"progress", "status", "waiting"}}. */
  static ObjectNode overview(RoundProgress progress, TrainingStatus status, int waiting) {
    ObjectNode o = MAPPER.createObjectNode();
    o.set("progress", progress(progress));
    o.set("status", status(status));
    o.put("waiting", waiting);
    return o;
  }

  /** {@code {"ok": true, "itemId", "skipped", "ranking", "progress"}}: an accepted answer. */
  static ObjectNode accepted(LabelResult result, RoundProgress progress) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("ok", true);
    o.put("itemId", result.itemId());
    o.put("skipped", result.isSkip());
    ArrayNode rk = o.putArray("ranking");
    result.order().forEach(rk::add);
    o.set("progress", progress(progress));
    return o;
  }

  /** {@code {"done": false, "itemId", "prompt", "responses": [A, B], "progress"}}: no policy names. */
  static ObjectNode abItem(AbItem it, AbSession.Progress progress) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("done", false);
    o.put("itemId", it.itemId());
    o.put("prompt", it.prompt());
    o.putArray("responses").add(it.responseA()).add(it.responseB());
    o.set("progress", abProgress(progress));
    return o;
  }

  /** {@code {"done": true, "progress"}}. */
  static ObjectNode abDone(AbSession.Progress progress) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("done", true);
    o.set("progress", abProgress(progress));
    return o;
  }

  /** {@code {"ok": true, "itemId", "skipped", "choice": "A"|"B"|"tie"|null, "progress"}}. */
  static ObjectNode abAccepted(String itemId, Optional<AbChoice> choice, AbSession.Progress progress) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("ok", true);
    o.put("itemId", itemId);
    o.put("skipped", choice.isEmpty());
    if (choice.isPresent()) {
      o.put("choice", choice.get().wireName());
    } else {
      o.putNull("choice");
    }
    o.set("progress", abProgress(progress));
    return o;
  }

  /** {@code {"judged", "skipped", "total"}}. */
  static ObjectNode abProgress(AbSession.Progress p) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("judged", p.judged());
    o.put("skipped", p.skipped());
    o.put("total", p.total());
    return o;
  }

  /** {@code {"error": message}}. */
  static ObjectNode error(String message) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("error", message);
    return o;
  }

  /** {@code {"round": n|null, "labelled", "skipped", "total"}}. */
  static ObjectNode progress(RoundProgress p) {
    ObjectNode o = MAPPER.createObjectNode();
    if (p.round().isPresent()) {
      o.put("round", p.round().getAsInt());
    } else {
      o.putNull("round");
    }
    o.put("labelled", p.labelled());
    o.put("skipped", p.skipped());
    o.put("total", p.total());
    return o;
  }

  /** {@code {"stage", "rewardModelAccuracy": x|null, "ppoScore": x|null}}. */
  static ObjectNode status(TrainingStatus s) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("stage", s.stage());
    putOptional(o, "rewardModelAccuracy", s.rewardModelAccuracy());
    putOptional(o, "ppoScore", s.ppoScore());
    return o;
  }

  private static void putOptional(ObjectNode o, String field, OptionalDouble v) {
    if (v.isPresent()) {
      o.put(field, v.getAsDouble());
    } else {
      o.putNull(field);
    }
  }
}
