package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.TrainingListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Warns (SLF4J WARN, logger {@code org.rlhf4j.ppo.PpoWarnings}) once per run when PPO goes wrong in
 * the two usual ways: <b>entropy collapse</b> — the policy's mean per-token entropy ({@code
 * policy/entropy_avg}) falls below {@code minEntropy} nats, typically one token repeated then EOS
 * whatever the reward, from a learning rate too high for the model — and <b>runaway KL</b> — the
 * mean KL to the reference per response token ({@code objective/kl / response_length_mean}) exceeds
 * {@code maxKlPerToken} nats, the policy leaving the reference faster than the penalty holds it.
 * Every {@link PpoTrainer} has one with the {@link #defaults()} unless its builder is given another
 * ({@link PpoTrainer.Builder#warnings}) or {@link #none()}.
 */
public final class PpoWarnings implements TrainingListener {
  private static final Logger LOG = LoggerFactory.getLogger(PpoWarnings.class);
  /** Default floor of the mean per-token entropy, nats. */
  public static final double DEFAULT_MIN_ENTROPY = 0.1;
  /** Default ceiling of the mean KL per response token, nats. */
  public static final double DEFAULT_MAX_KL_PER_TOKEN = 1.0;

  private final double minEntropy;
  private final double maxKlPerToken;
  private final Consumer<String> sink;
  private final List<String> issued = new ArrayList<>();
  private boolean entropyWarned;
  private boolean klWarned;

  private PpoWarnings(double minEntropy, double maxKlPerToken, Consumer<String> sink) {
    checkArgument(minEntropy >= 0, "minEntropy must be >= 0, got %s", minEntropy);
    checkArgument(maxKlPerToken > 0, "maxKlPerToken must be > 0, got %s", maxKlPerToken);
    this.minEntropy = minEntropy;
    this.maxKlPerToken = maxKlPerToken;
    this.sink = sink;
  }

  /** Entropy below {@value #DEFAULT_MIN_ENTROPY} nats per token, KL above {@value #DEFAULT_MAX_KL_PER_TOKEN} nats per token. */
  public static PpoWarnings defaults() {
    return of(DEFAULT_MIN_ENTROPY, DEFAULT_MAX_KL_PER_TOKEN);
  }

  /** Warnings with these thresholds. */
  public static PpoWarnings of(double minEntropy, double maxKlPerToken) {
    return new PpoWarnings(minEntropy, maxKlPerToken, LOG::warn);
  }

  /** No warnings. */
  public static PpoWarnings none() {
    return new PpoWarnings(0, Double.MAX_VALUE, LOG::warn);
  }

  /** These thresholds, sending the warnings to {@code sink} instead of the log. */
  public PpoWarnings to(Consumer<String> newSink) {
    return new PpoWarnings(minEntropy, maxKlPerToken, newSink);
  }

  @Override
  public void onStep(Metrics m) {
    Double entropy = m.values().get("policy/entropy_avg");
    if (!entropyWarned && entropy != null && entropy < minEntropy) {
      entropyWarned = true;
      warn(String.format(Locale.ROOT,
          "PPO step %d: entropy collapse: the policy's mean entropy is %.3g nats per token (below %.3g); it is"
              + " probably repeating one response whatever the reward. Lower the learning rate (on GPT-2-size"
              + " models 1e-4 collapsed where 3e-5 worked; see the README's tuning section) or raise klCoef.",
          m.step(), entropy, minEntropy));
    }
    Double kl = m.values().get("objective/kl");
    Double len = m.values().get("response_length_mean");
    if (!klWarned && kl != null && len != null && len > 0 && kl / len > maxKlPerToken) {
      klWarned = true;
      warn(String.format(Locale.ROOT,
          "PPO step %d: runaway KL: %.3g nats per response token from the reference (above %.3g; %.3g per"
              + " response). Raise klCoef (or use adaptive KL), or lower the learning rate.",
          m.step(), kl / len, maxKlPerToken, kl));
    }
  }

  private void warn(String message) {
    issued.add(message);
    sink.accept(message);
  }

  /** The warnings issued so far. */
  public List<String> issued() {
    return List.copyOf(issued);
  }
}
