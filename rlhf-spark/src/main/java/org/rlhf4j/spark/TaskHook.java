package org.rlhf4j.spark;

import java.io.Serializable;

/**
 * Called on the executor at the start of each rollout task with its partition and attempt number
 * (Spark's {@code TaskContext}); for fault injection in tests (a hook that throws fails the attempt,
 * which Spark retries).
 */
@FunctionalInterface
interface TaskHook extends Serializable {
  /** Runs before the task's first unit. */
  void beforeTask(int partition, int attempt);
}
