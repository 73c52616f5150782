package org.rlhf4j.spark;

import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.ppo.GrpoConfig;
import org.rlhf4j.ppo.GrpoTrainer;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoTrainer;
import org.rlhf4j.reward.TransformerRewardModel;

/**
 * The README's Spark snippet (GRPO, PPO, scoring, best-of-n), compiled (rlhf-examples' ReadmeSnippetsTest checks that the README's
 * text appears here verbatim); not run.
 */
final class SparkReadmeSnippets {
  private SparkReadmeSnippets() {}

  static void sparkSection(GrpoConfig cfg, PpoConfig ppoCfg, GptModel policy, GptModel actor, GptModel sft,
      TransformerRewardModel rm, Tokenizer tok, List<String> prompts, Dataset<Row> pairs, Dataset<Row> rankings, Dataset<Row> promptRows) {
    SparkSession spark = SparkSession.builder().getOrCreate();  // master etc. from spark-submit
    try (SparkRolloutSource rollouts = SparkRolloutSource.builder(spark).partitions(8).build();
         GrpoTrainer trainer = GrpoTrainer.builder(cfg).policy(policy).reference(sft).rewardModel(rm)
             .tokenizer(tok).prompts(prompts).rolloutSource(rollouts).build()) {
      trainer.train(100);                                     // rollouts on the executors, the update here
    }
    try (SparkRolloutSource rollouts = SparkRolloutSource.builder(spark).build();
         PpoTrainer ppo = PpoTrainer.builder(ppoCfg).policy(actor).reference(sft)  // actor: a value head
             .rewardModel(rm).tokenizer(tok).prompts(prompts).rolloutSource(rollouts).build()) {
      ppo.train(100);                                         // with .critic(c), c is broadcast each step too
    }
    try (SparkRewardScorer scorer = SparkRewardScorer.builder(spark, rm, tok).build()) {
      Dataset<Row> scored = scorer.score(pairs, "prompt", "response");           // + a "score" column
      SparkRewardScorer.RankingAccuracy acc = scorer.rankingAccuracy(rankings, "prompt", "responses");
    }
    try (SparkBestOfN bon = SparkBestOfN.builder(spark, policy, rm, tok).n(16).seed(1).build()) {
      Dataset<Row> best = bon.generate(promptRows, "prompt");  // + best_response, best_score, responses, response_scores
    }
  }
}
