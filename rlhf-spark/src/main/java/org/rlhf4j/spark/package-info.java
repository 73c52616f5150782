/**
 * RLHF on Apache Spark: GRPO/RLOO rollouts on executors ({@link org.rlhf4j.spark.SparkRolloutSource}),
 * reward scoring of datasets ({@link org.rlhf4j.spark.SparkRewardScorer}) and best-of-n generation
 * ({@link org.rlhf4j.spark.SparkBestOfN}). Models travel as safetensors bytes in broadcasts
 * ({@link org.rlhf4j.spark.ModelBytes}) and are rebuilt once per version per executor JVM
 * ({@link org.rlhf4j.spark.ExecutorModels}).
 */
package org.rlhf4j.spark;
