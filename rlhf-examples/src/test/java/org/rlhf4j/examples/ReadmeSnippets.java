package org.rlhf4j.examples;

import java.nio.file.Path;
import java.util.List;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.data.ChatMessage;
import org.rlhf4j.core.data.ChatTemplate;
import org.rlhf4j.core.data.SftDatasets;
import org.rlhf4j.core.data.SftExample;
import org.rlhf4j.core.hf.HfLlama;
import org.rlhf4j.core.hf.HfPretrained;
import org.rlhf4j.core.hf.PretrainedModels;
import org.rlhf4j.core.io.SafetensorsDtype;
import org.rlhf4j.core.lora.LlamaLora;
import org.rlhf4j.core.lora.LoraConfig;
import org.rlhf4j.core.lora.LoraLayers;
import org.rlhf4j.core.lora.LoraReference;
import org.rlhf4j.core.lora.TargetModules;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.sft.SftConfig;
import org.rlhf4j.core.sft.SftTrainer;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer;
import org.rlhf4j.core.tokenizer.HfTokenizer;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.LoggingListener;
import org.rlhf4j.dl4j.Dl4jRewardModel;
import org.rlhf4j.dl4j.Featurizer;
import org.rlhf4j.dl4j.OutputSelector;
import org.rlhf4j.examples.labelling.LabellingServer;
import org.rlhf4j.examples.labelling.TrainingStatus;
import org.rlhf4j.examples.labelling.WebLabeller;
import org.rlhf4j.ppo.Advantages;
import org.rlhf4j.ppo.CompletionsTable;
import org.rlhf4j.ppo.GrpoConfig;
import org.rlhf4j.ppo.GrpoStats;
import org.rlhf4j.ppo.GrpoTrainer;
import org.rlhf4j.ppo.KlEstimator;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;
import org.rlhf4j.ppo.Rollout;
import org.rlhf4j.ppo.RolloutCollector;
import org.rlhf4j.ppo.loop.DpoPolicyOptimizer;
import org.rlhf4j.ppo.loop.RlhfLoop;
import org.rlhf4j.ppo.loop.RlhfLoopConfig;
import org.rlhf4j.ppo.loop.RoundReport;
import org.rlhf4j.reward.RewardConfig;
import org.rlhf4j.reward.RewardModel;
import org.rlhf4j.reward.RewardTrainer;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.reward.data.PreferenceDatasets;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.dpo.DpoConfig;
import org.rlhf4j.reward.dpo.DpoResult;
import org.rlhf4j.reward.dpo.DpoTrainer;
import org.rlhf4j.reward.feedback.ComparisonStore;
import org.rlhf4j.reward.feedback.LabelRequest;
import org.rlhf4j.reward.feedback.LabelResult;
import org.rlhf4j.reward.feedback.Labeller;

/**
 * The README's Java snippets, verbatim (up to indentation), so that the compiler checks them;
 * {@link ReadmeSnippetsTest} checks that every {@code ```java} block of README.md appears here. The
 * methods are compiled, not run (they need files the tests do not have).
 */
@SuppressWarnings("unused")
final class ReadmeSnippets {
  private ReadmeSnippets() {}

  static void threeSteps(List<String> prompts) {
    // README: the three steps
    Tokenizer tok = Gpt2BpeTokenizer.fromDirectory(Path.of("gpt2"));              // or ByteTokenizer.create()
    GptModel base = PretrainedModels.load(Path.of("gpt2"), ModelOptions.defaults()).model();

    // 1. SFT on prompt/completion pairs (maxLength, BOS and completion-only loss come from the config)
    GptModel sft = base.copy(base.options());
    List<SftExample> demos = SftDatasets.read(Path.of("sft.jsonl"));   // the self-instruct file: SelfInstruct.read
    SftTrainer.builder(SftConfig.builder().learningRate(2e-5).epochs(3).maxLength(512).build()).build().train(sft, demos, tok);

    // 2. Reward model from K-way rankings (all C(K,2) pairs of a prompt in one batch)
    TransformerRewardModel rm = TransformerRewardModel.fromPolicy(sft, 42);      // a copy of sft with a new head
    List<Ranking> prefs = PreferenceDatasets.read(Path.of("prefs.jsonl"));
    RewardTrainer.builder(RewardConfig.builder().learningRate(1e-5).evalFraction(0.1).build()).build().train(rm, tok, prefs);

    // 3. PPO against the reward model plus a rule on the texts, KL penalty to the frozen SFT model
    RewardModel reward = rm.plus(RewardModel.ofText(tok, (prompt, response) -> response.isBlank() ? -1 : 0));
    PpoTrainer ppo = PpoTrainer.builder(PpoConfig.builder().klCoef(0.05).build())
        .policy(sft.withNewValueHead()).reference(sft).rewardModel(reward).tokenizer(tok).prompts(prompts)
        .listener(new LoggingListener(1)).stepListener(CompletionsTable.logging(10, 4)).build();
    for (int i = 0; i < 100; i++) {
      PpoStats s = ppo.step();                  // s.completions(): prompt, response text, score, KL
    }
  }

  static void llama() {
    // README: Llama, Qwen2 and Mistral
    LlamaModel model = HfLlama.load(Path.of("smollm2-135m"), new ModelOptions(DataType.FLOAT, 8)).model();
    // ... SFT, reward model, PPO or DPO with it, as with a GptModel ...
    HfLlama.export(model, Path.of("smollm2-135m-ppo"), new HfLlama.ExportOptions(SafetensorsDtype.BF16, 2L << 30), 1, 2);
  }

  static void lora(SftConfig sftConfig, org.rlhf4j.core.sft.SftData data, PpoConfig ppoConfig, RewardModel rm, Tokenizer tokenizer,
      List<String> prompts) throws Exception {
    // README: LoRA adapters
    LlamaModel model = HfLlama.load(Path.of("models/SmolLM2-135M"), ModelOptions.defaults()).model();
    LoraLayers lora = LlamaLora.create(model, LoraConfig.builder().r(8).alpha(16)
        .targetModules(TargetModules.allLinear()).build(), 42);     // or LlamaLora.load(model, adapterDir)
    SftTrainer.builder(sftConfig).build().train(model, data);         // updates the adapter only
    lora.adapter().save(Path.of("sft-adapter"));                      // adapter_config.json + adapter_model.safetensors
    LlamaLora.mergeAndUnload(model, lora);                            // the SFT model, for the next stage

    LlamaModel policy = model.withNewValueHead();                     // a reward model: withNewScalarHead(seed)
    LoraLayers ppoLora = LlamaLora.create(policy, LoraConfig.builder().r(8).alpha(16)
        .targetModules(TargetModules.allLinear()).modulesToSave(List.of("scalar_head")).build(), 43);
    PpoTrainer ppo = PpoTrainer.builder(ppoConfig).policy(policy)
        .reference(LoraReference.of(policy, ppoLora.adapter()))       // the SFT model, no second copy
        .rewardModel(rm).tokenizer(tokenizer).prompts(prompts).build();
  }

  static void labellingPage(List<LabelRequest> requests) throws Exception {
    // README: labelling page
    try (ComparisonStore store = ComparisonStore.open(Path.of("rlhf-output/comparisons.jsonl"))) {
      WebLabeller labeller = new WebLabeller(store, "ann");
      try (LabellingServer server = LabellingServer.start(labeller)) {    // http://127.0.0.1:8080/
        labeller.setStatus(TrainingStatus.NONE.withStage("Round 1: waiting for rankings"));
        List<LabelResult> answers = labeller.labelAll(requests);          // returns when all are answered
        labeller.setStatus(labeller.status().withRewardModelAccuracy(0.69).withPpoScore(0.42));
      }
    }
  }

  static void dpo(GptModel sft, Tokenizer tok, List<Ranking> prefs, List<Ranking> heldOutPrefs, List<Ranking> rankings) {
    // README: DPO
    GptModel policy = sft.copy(sft.options());
    DpoConfig cfg = DpoConfig.builder().beta(0.1).learningRate(5e-7).epochs(1).promptsPerBatch(8).build();
    DpoTrainer dpo = DpoTrainer.builder(cfg).policy(policy).reference(sft).tokenizer(tok)
        .listener(new LoggingListener(10)).build();
    DpoResult r = dpo.train(prefs, heldOutPrefs);         // heldOutPrefs may be List.of()
    dpo.saveCheckpoint(Path.of("dpo"), r, "sft");          // a ModelCheckpoint, loadable like any other
  }

  static void dpoInTheLoop(GptModel sft, Tokenizer tok, DpoConfig cfg, RlhfLoopConfig loopConfig, List<String> prompts,
      Labeller labeller, ComparisonStore store) {
    // README: DPO in the feedback loop
    DpoPolicyOptimizer dpoRounds = DpoPolicyOptimizer.of(DpoTrainer.builder(cfg).policy(sft.copy(sft.options())).reference(sft).tokenizer(tok).build());
    try (RlhfLoop loop = RlhfLoop.builder(loopConfig).optimizer(dpoRounds).tokenizer(tok).prompts(prompts)
        .labeller(labeller).store(store).checkpointDir(Path.of("loop")).build()) {
      List<RoundReport> rounds = loop.run();    // rounds.get(i).dpo(): the round's DpoResult
    }
  }

  static void rlParts(GptModel policy, GptModel sft, Tokenizer tok, RewardModel rm, GrpoConfig cfg, List<int[]> encodedPrompts,
      long[] seeds) {
    // README: the RL parts on their own
    RolloutCollector collector = RolloutCollector.builder().policy(policy).reference(sft).rewardModel(rm).tokenizer(tok)
        .sampling(cfg.sampling(tok.eosId())).klEstimator(KlEstimator.K1).build();
    Rollout r = collector.collectSeeded(encodedPrompts, 8, seeds);   // 8 samples of each prompt, one seed per prompt
    double[] advantages = Advantages.groupNormalized(r.scores(), 8, 1e-4);
  }

  static void grpo(GptModel sft, Tokenizer tok, RewardModel rm, List<String> prompts) {
    // README: GRPO and RLOO
    GrpoConfig cfg = GrpoConfig.builder().learningRate(1e-5).beta(0.04).numGenerations(8).batchSize(32).build();
    // or GrpoConfig.rlooBuilder()...build()
    try (GrpoTrainer t = GrpoTrainer.builder(cfg).policy(sft.copy(sft.options())).reference(sft)
        .rewardModel(rm).tokenizer(tok).prompts(prompts).listener(new LoggingListener(10)).build()) {
      List<GrpoStats> stats = t.train(100);    // or t.step()
    }
  }

  static void dl4j(MultiLayerNetwork sentimentNet, Tokenizer tok, PpoConfig cfg, GptModel policy, GptModel sft) {
    // README: a DeepLearning4J classifier as the reward
    RewardModel rm = Dl4jRewardModel.builder()
        .network(sentimentNet)                                             // or .graph(graph, outputIndex)
        .featurizer(Featurizer.ofText((prompt, response) -> myFeatures(response)))  // or Featurizer.ofTokens
        .output(OutputSelector.logitDifference(1, 0))    // or .probability(1), .column(0)
        .tokenizer(tok)                                  // decodes ids for text featurizers
        .build();
    PpoTrainer ppo = PpoTrainer.builder(cfg).policy(policy).reference(sft).rewardModel(rm).tokenizer(tok).build();
  }

  private static INDArray myFeatures(String response) {
    throw new UnsupportedOperationException("an application's own featurizer");
  }

  static void chatTemplate() {
    // README: tokenizer.json tokenizers and chat templates
    HfTokenizer tok = HfTokenizer.fromDirectory(Path.of("SmolLM2-135M-Instruct"));
    ChatTemplate chat = ChatTemplate.fromDirectory(Path.of("SmolLM2-135M-Instruct"));
    String prompt = chat.generationPrompt(List.of(ChatMessage.user("Write a haiku about rain.")));
    int[] ids = tok.encode(prompt);
  }

  static void hfPretrained() {
    // README: Fine-tune a Hugging Face model with LoRA
    try (HfPretrained hf = HfPretrained.load(Path.of("models/SmolLM2-135M-Instruct"), ModelOptions.defaults())) {
      ChatTemplate chat = hf.requireChatTemplate();               // chat_template.jinja or tokenizer_config.json
      String prompt = chat.generationPrompt(List.of(ChatMessage.user("What is 3 plus 4?")));
      int[] ids = hf.tokenizer().encode(prompt);                   // the template writes the special tokens
      List<Integer> stop = hf.eosIds();                            // generation_config.json's eos_token_id
    }
  }
}
