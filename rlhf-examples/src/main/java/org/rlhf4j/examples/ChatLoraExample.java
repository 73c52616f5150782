package org.rlhf4j.examples;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.data.ChatMessage;
import org.rlhf4j.core.data.ChatTemplate;
import org.rlhf4j.core.data.SftDatasets;
import org.rlhf4j.core.data.SftExample;
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.hf.HfLlama;
import org.rlhf4j.core.hf.HfPretrained;
import org.rlhf4j.core.lora.LlamaLora;
import org.rlhf4j.core.lora.LoraAdapter;
import org.rlhf4j.core.lora.LoraConfig;
import org.rlhf4j.core.lora.LoraLayers;
import org.rlhf4j.core.lora.LoraReference;
import org.rlhf4j.core.lora.TargetModules;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.core.sft.TokenizedSequence;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tokenizer.HfTokenizer;
import org.rlhf4j.reward.data.PreferenceDatasets;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.dpo.DpoConfig;
import org.rlhf4j.reward.dpo.DpoResult;
import org.rlhf4j.reward.dpo.DpoTrainer;

/**
 * Fine-tunes a Hugging Face chat model with LoRA the way a TRL/PEFT user does: load the model
 * folder ({@link HfPretrained}: weights, {@code tokenizer.json}, chat template, end ids), attach a
 * LoRA adapter (rank, alpha, target modules), SFT on conversations in {@code messages} form
 * rendered with the model's chat template (loss on the assistant reply and its end-of-turn marker
 * only), then DPO on preference pairs in conversational form ({@code prompt}/{@code chosen}/{@code
 * rejected} message lists) against the model with the adapter disabled as the reference (no second
 * copy of the weights), then save the adapter in PEFT's format ({@code adapter/}: {@code
 * adapter_config.json} + {@code adapter_model.safetensors}) and the merged model as a Hugging Face
 * folder ({@code merged/}: {@code config.json}, {@code model.safetensors}, tokenizer files with the
 * chat template, {@code generation_config.json}) that {@code transformers} loads, and answer a
 * question with the chat template's generation prompt.
 *
 * <p>The data is written by the example into {@code data/sft.jsonl} and {@code data/dpo.jsonl}
 * under the output directory (short arithmetic questions; the chosen answers are correct and
 * short, the rejected ones wrong), or read from {@code --sft FILE} / {@code --dpo FILE} in the same
 * forms.
 *
 * <pre>
 * mvn -q -pl rlhf-examples -am package -DskipTests exec:exec -Dexample=org.rlhf4j.examples.ChatLoraExample \
 *     -Dexample.args="--model models/SmolLM2-135M-Instruct --out rlhf-output/chat-lora"
 * </pre>
 *
 * Options: {@code --model DIR} (required), {@code --out DIR}, {@code --chat-template FILE} (a Jinja
 * template for a model folder without one, e.g. ChatML), {@code --r N}, {@code --alpha A}, {@code
 * --targets q_proj,v_proj,...}, {@code --sft-steps N}, {@code --dpo-epochs N}, {@code --lr X},
 * {@code --batch N}, {@code --max-length N}, {@code --threads N}, {@code --seed S}, {@code --sft
 * FILE}, {@code --dpo FILE}, {@code --question TEXT}.
 */
public final class ChatLoraExample {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ChatLoraExample() {}

  /**
   * What to run.
   *
   * @param model the Hugging Face model folder
   * @param out the output directory
   * @param chatTemplate a Jinja chat template file used when the model folder has none
   * @param lora the adapter's configuration (rank, alpha, target modules)
   * @param sftSteps SFT optimiser steps
   * @param dpoEpochs DPO epochs over the preference pairs
   * @param learningRate the learning rate of both stages
   * @param batchSize sequences (SFT) or pairs (DPO) per step
   * @param maxLength the longest sequence, in tokens
   * @param threads threads for the model
   * @param seed the seed of the adapter's initialisation, the data and both trainers
   * @param sftData a {@code messages} JSONL file, or empty to write the example's own
   * @param dpoData a conversational preference JSONL file, or empty to write the example's own
   * @param question the question answered at the end
   */
  public record Options(
      Path model,
      Path out,
      Optional<Path> chatTemplate,
      LoraConfig lora,
      int sftSteps,
      int dpoEpochs,
      double learningRate,
      int batchSize,
      int maxLength,
      int threads,
      long seed,
      Optional<Path> sftData,
      Optional<Path> dpoData,
      String question) {
    /** Validates the options. */
    public Options {
      checkNotNull(model, "model");
      checkNotNull(out, "out");
      checkNotNull(chatTemplate, "chatTemplate");
      checkNotNull(lora, "lora");
      checkNotNull(sftData, "sftData");
      checkNotNull(dpoData, "dpoData");
      checkNotNull(question, "question");
      checkArgument(sftSteps >= 1, "sftSteps must be >= 1, got %s", sftSteps);
      checkArgument(dpoEpochs >= 1, "dpoEpochs must be >= 1, got %s", dpoEpochs);
      checkArgument(learningRate > 0 && Double.isFinite(learningRate), "learningRate must be > 0, got %s", learningRate);
      checkArgument(batchSize >= 1, "batchSize must be >= 1, got %s", batchSize);
      checkArgument(maxLength >= 8, "maxLength must be >= 8, got %s", maxLength);
      checkArgument(threads >= 1, "threads must be >= 1, got %s", threads);
    }

    /** Defaults for {@code model}: r 8, alpha 16 on q/k/v/o/gate/up/down, 60 SFT steps, 2 DPO epochs, lr 2e-3. */
    public static Options defaults(Path model, Path out) {
      return new Options(
          model,
          out,
          Optional.empty(),
          LoraConfig.builder().r(8).alpha(16).targetModules(TargetModules.of(DEFAULT_TARGETS)).build(),
          60,
          2,
          2e-3,
          8,
          256,
          Math.max(1, Runtime.getRuntime().availableProcessors()),
          42,
          Optional.empty(),
          Optional.empty(),
          "What is 3 plus 4?");
    }
  }

  /** The modules adapted by default: every linear layer of a block (PEFT's usual choice for Llama). */
  public static final List<String> DEFAULT_TARGETS = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

  /**
   * What the run did. Holds the trained model with its adapter attached (not merged); close it.
   *
   * @param out the output directory
   * @param adapterDir the PEFT adapter ({@code adapter_config.json} + {@code adapter_model.safetensors})
   * @param mergedDir the merged model as a Hugging Face folder
   * @param sftLossBefore the SFT loss (assistant tokens) before training
   * @param sftLossAfter ... and after
   * @param dpo the DPO run (its {@code finalEval}: preference accuracy on the held-out last quarter of the pairs)
   * @param prompt the chat-rendered prompt of the question ({@code add_generation_prompt})
   * @param promptIds its token ids
   * @param reply the generated reply (special tokens skipped)
   * @param template the chat template used
   * @param tokenizer the tokenizer (with that template)
   * @param model the trained model, adapter attached
   * @param lora the attached adapter
   */
  public record Result(
      Path out,
      Path adapterDir,
      Path mergedDir,
      double sftLossBefore,
      double sftLossAfter,
      DpoResult dpo,
      String prompt,
      int[] promptIds,
      String reply,
      ChatTemplate template,
      HfTokenizer tokenizer,
      LlamaModel model,
      LoraLayers lora)
      implements AutoCloseable {
    /** Detaches and frees the adapter and closes the model. */
    @Override
    public void close() {
      model.setAdapters(null);
      lora.close();
      model.close();
    }
  }

  /** Runs the whole recipe (see the class documentation). */
  public static Result run(Options o) throws IOException {
    Files.createDirectories(o.out());
    HfPretrained hf = HfPretrained.load(o.model(), new ModelOptions(DataType.FLOAT, o.threads()));
    LlamaModel model = hf.llama();
    LoraLayers lora = null;
    try {
      // --- the chat template: the model's own, or the one given for a base model without one
      HfTokenizer tok = hf.tokenizer();
      if (hf.chatTemplate().isEmpty()) {
        Path file = o.chatTemplate().orElseThrow(() -> new IllegalArgumentException(
            o.model() + " has no chat template (chat_template.jinja or tokenizer_config.json's chat_template): give one with"
                + " --chat-template FILE (e.g. a ChatML chat_template.jinja)"));
        tok = tok.withChatTemplate(Files.readString(file, StandardCharsets.UTF_8));
      }
      ChatTemplate template = HfPretrained.templateOf(tok, o.model().toString()).orElseThrow();
      List<Integer> eos = hf.eosIds();

      // --- data in messages / conversational form
      Path sftFile = o.sftData().orElse(o.out().resolve("data/sft.jsonl"));
      Path dpoFile = o.dpoData().orElse(o.out().resolve("data/dpo.jsonl"));
      if (o.sftData().isEmpty() || o.dpoData().isEmpty()) {
        writeData(o.out().resolve("data"), o.seed());
      }

      // --- LoRA: only the adapter is trained; the base weights are frozen
      LoraConfig loraConfig = o.lora().toBuilder().baseModelNameOrPath(o.model().toString()).taskType("CAUSAL_LM").build();
      lora = LlamaLora.create(model, loraConfig, o.seed());
      LoraAdapter adapter = lora.adapter();

      // --- SFT on the assistant turns, rendered with the chat template
      List<SftExample> examples = SftDatasets.read(sftFile, SftDatasets.Format.AUTO, template);
      SftData sft = assistantOnly(examples, tok, o.maxLength());
      double before = SftTrainer.evaluate(model, sft, o.batchSize()).loss();
      SftTrainer.builder(SftConfig.builder().learningRate(o.learningRate()).maxSteps(o.sftSteps()).batchSize(o.batchSize()).seed(o.seed()).build())
          .build().train(model, sft);
      double after = SftTrainer.evaluate(model, sft, o.batchSize()).loss();

      // --- DPO on conversational preference pairs; the reference is the model with the adapter disabled
      String endOfTurn = endOfTurn(template);
      List<Ranking> pairs = new ArrayList<>();
      for (Ranking r : PreferenceDatasets.read(dpoFile, PreferenceDatasets.Format.AUTO, template)) {
        // as TRL: each response is what the template adds after the prompt (the reply and its end marker)
        pairs.add(Ranking.pairwise(r.source(), r.line(), r.prompt(), r.responses().get(r.order().get(0)) + endOfTurn,
            r.responses().get(r.order().get(1)) + endOfTurn));
      }
      checkArgument(pairs.size() >= 2, "%s: DPO needs at least 2 preference pairs, got %s", dpoFile, pairs.size());
      int train = pairs.size() - Math.max(1, pairs.size() / 4); // the last quarter is held out
      DpoResult dpo = DpoTrainer.builder(
              DpoConfig.builder().beta(0.1).learningRate(o.learningRate()).epochs(o.dpoEpochs()).promptsPerBatch(o.batchSize())
                  .maxLength(o.maxLength()).addBos(false).appendEos(false).seed(o.seed()).build())
          .policy(model)
          .reference(LoraReference.of(model, adapter))
          .tokenizer(tok)
          .build()
          .train(pairs.subList(0, train), pairs.subList(train, pairs.size()));

      // --- save: the PEFT adapter, and the merged model as a Hugging Face folder
      Path adapterDir = o.out().resolve("adapter");
      Path mergedDir = o.out().resolve("merged");
      adapter.save(adapterDir);
      adapter.merge(LlamaLora.baseWeights(model, adapter));
      try {
        HfPretrained.export(model, tok, eos, mergedDir, HfLlama.ExportOptions.defaults());
      } finally {
        adapter.unmerge();
      }

      // --- answer a question with the chat template's generation prompt
      String prompt = template.generationPrompt(List.of(ChatMessage.user(o.question())));
      int[] ids = tok.encode(prompt);
      int room = model.contextLength() - ids.length;
      checkArgument(room >= 1, "the question's prompt has %s tokens; the model's context is %s", ids.length, model.contextLength());
      SamplingConfig sampling = SamplingConfig.builder().greedy(true).maxNewTokens(Math.min(48, room)).stopTokens(Set.copyOf(eos)).build();
      Generation g = Generator.generate(model, List.of(ids), sampling, o.seed(), hf.padId());
      String reply = tok.decode(g.response(0), true);
      return new Result(o.out(), adapterDir, mergedDir, before, after, dpo, prompt, ids, reply, template, tok, model, lora);
    } catch (RuntimeException | IOException e) {
      if (lora != null) {
        model.setAdapters(null);
        lora.close();
      }
      model.close();
      throw e;
    }
  }

  /**
   * The tokens of each example as {@code prompt completion} with the loss on the completion only
   * (the assistant reply and the template's end-of-turn marker, which ends generation); no BOS or
   * EOS is added, as the template writes what the model expects. An example longer than {@code
   * maxLength} keeps the end of its prompt.
   */
  static SftData assistantOnly(List<SftExample> examples, HfTokenizer tok, int maxLength) {
    List<TokenizedSequence> out = new ArrayList<>();
    for (SftExample e : examples) {
      int[] p = tok.encode(e.prompt());
      int[] c = tok.encode(e.completion());
      checkArgument(c.length < maxLength, "a reply of %s tokens does not fit maxLength %s", c.length, maxLength);
      int keep = Math.min(p.length, maxLength - c.length);
      int[] ids = new int[keep + c.length];
      int[] mask = new int[ids.length];
      System.arraycopy(p, p.length - keep, ids, 0, keep);
      System.arraycopy(c, 0, ids, keep, c.length);
      java.util.Arrays.fill(mask, keep, ids.length, 1);
      out.add(new TokenizedSequence(ids, mask));
    }
    return SftData.of(out);
  }

  /** What the template writes after an assistant message's content (ChatML: {@code <|im_end|>\n}). */
  static String endOfTurn(ChatTemplate template) {
    String marker = "rlhf4j-reply-marker";
    List<ChatMessage> ctx = List.of(ChatMessage.user("question"));
    String prompt = template.generationPrompt(ctx);
    String full = template.render(List.of(ctx.get(0), ChatMessage.assistant(marker)), false);
    int at = full.startsWith(prompt) ? full.indexOf(marker, prompt.length()) : -1;
    checkArgument(at >= 0, "chat template %s does not render a reply after its generation prompt", template);
    return full.substring(at + marker.length());
  }

  /** Writes {@code sft.jsonl} (messages) and {@code dpo.jsonl} (conversational pairs) into {@code dir}. */
  static void writeData(Path dir, long seed) throws IOException {
    Files.createDirectories(dir);
    Random rng = new Random(seed);
    StringBuilder sft = new StringBuilder();
    StringBuilder dpo = new StringBuilder();
    for (int i = 0; i < 32; i++) {
      int a = rng.nextInt(10);
      int b = rng.nextInt(10);
      String q = "What is " + a + " plus " + b + "?";
      String good = a + " plus " + b + " is " + (a + b) + ".";
      int wrong = a + b + 1 + rng.nextInt(5);
      String bad = "Let me think about that. It might be " + wrong + ", but I am not sure.";
      List<Map<String, String>> messages = List.of(msg("system", "You are a concise assistant."), msg("user", q), msg("assistant", good));
      sft.append(JSON.writeValueAsString(Map.of("messages", messages))).append('\n');
      Map<String, Object> pair = new LinkedHashMap<>();
      pair.put("prompt", List.of(msg("system", "You are a concise assistant."), msg("user", q)));
      pair.put("chosen", List.of(msg("assistant", good)));
      pair.put("rejected", List.of(msg("assistant", bad)));
      dpo.append(JSON.writeValueAsString(pair)).append('\n');
    }
    Files.writeString(dir.resolve("sft.jsonl"), sft.toString(), StandardCharsets.UTF_8);
    Files.writeString(dir.resolve("dpo.jsonl"), dpo.toString(), StandardCharsets.UTF_8);
  }

  private static Map<String, String> msg(String role, String content) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("role", role);
    m.put("content", content);
    return m;
  }

  /** Runs the program from the command line (see the class documentation for its options). */
  public static void main(String[] args) throws IOException {
    CpuBackend.configure(); // first, before anything loads ND4J: chooses the BLAS (MKL on Intel CPUs) and its kernels
    Path model = null;
    Path out = Path.of("rlhf-output/chat-lora");
    Map<String, String> opts = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i += 2) {
      checkArgument(i + 1 < args.length, "option %s needs a value", args[i]);
      opts.put(args[i], args[i + 1]);
    }
    if (opts.containsKey("--model")) {
      model = Path.of(opts.remove("--model"));
    }
    if (opts.containsKey("--out")) {
      out = Path.of(opts.remove("--out"));
    }
    checkArgument(model != null, "--model DIR is required (a Hugging Face folder, e.g. models/SmolLM2-135M-Instruct)");
    Options d = Options.defaults(model, out);
    LoraConfig.Builder lora = d.lora().toBuilder();
    Optional<Path> template = Optional.empty();
    Optional<Path> sftData = Optional.empty();
    Optional<Path> dpoData = Optional.empty();
    int sftSteps = d.sftSteps();
    int dpoEpochs = d.dpoEpochs();
    double lr = d.learningRate();
    int batch = d.batchSize();
    int maxLength = d.maxLength();
    int threads = d.threads();
    long seed = d.seed();
    String question = d.question();
    for (Map.Entry<String, String> e : opts.entrySet()) {
      String v = e.getValue();
      switch (e.getKey()) {
        case "--chat-template" -> template = Optional.of(Path.of(v));
        case "--r" -> lora.r(Integer.parseInt(v));
        case "--alpha" -> lora.alpha(Double.parseDouble(v));
        case "--targets" -> lora.targetModules(TargetModules.of(List.of(v.split(","))));
        case "--sft-steps" -> sftSteps = Integer.parseInt(v);
        case "--dpo-epochs" -> dpoEpochs = Integer.parseInt(v);
        case "--lr" -> lr = Double.parseDouble(v);
        case "--batch" -> batch = Integer.parseInt(v);
        case "--max-length" -> maxLength = Integer.parseInt(v);
        case "--threads" -> threads = Integer.parseInt(v);
        case "--seed" -> seed = Long.parseLong(v);
        case "--sft" -> sftData = Optional.of(Path.of(v));
        case "--dpo" -> dpoData = Optional.of(Path.of(v));
        case "--question" -> question = v;
        default -> throw new IllegalArgumentException("unknown option " + e.getKey());
      }
    }
    Options o = new Options(model, out, template, lora.build(), sftSteps, dpoEpochs, lr, batch, maxLength, threads, seed, sftData,
        dpoData, question);
    try (Result r = run(o)) {
      System.out.printf("SFT loss (assistant tokens) %.3f -> %.3f; DPO held-out preference accuracy %.2f%n", r.sftLossBefore(), r.sftLossAfter(),
          r.dpo().finalEval().orElseThrow().accuracy());
      System.out.println("adapter (PEFT):       " + r.adapterDir());
      System.out.println("merged model (HF):    " + r.mergedDir());
      System.out.println("prompt:\n" + r.prompt());
      System.out.println("reply: " + r.reply());
    }
  }
}
