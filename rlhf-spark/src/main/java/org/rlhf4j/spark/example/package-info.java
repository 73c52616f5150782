/** The spark-submit example ({@link org.rlhf4j.spark.example.SparkGrpoExample}) and the rollout benchmark. */
package org.rlhf4j.spark.example;
