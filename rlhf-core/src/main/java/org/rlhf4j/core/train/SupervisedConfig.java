package org.rlhf4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * The shared base of the configurations of the trainers that run on {@link SupervisedLoop} (SFT,
 * reward model, DPO): the {@link TrainingArguments} and the settings of an epoch loop over
 * tokenized sequences — passes over the data, the longest sequence, BOS. Every subclass is
 * immutable.
 */
public abstract class SupervisedConfig extends TrainingConfig {
  private final int epochs;
  private final int maxLength;
  private final boolean addBos;

  /** A configuration over {@code training} with {@code b}'s epoch-loop settings. */
  protected SupervisedConfig(TrainingArguments training, Builder<?> b) {
    super(training);
    this.epochs = b.epochs;
    this.maxLength = b.maxLength;
    this.addBos = b.addBos;
  }

  /** Passes over the training data (where the configuration has {@code maxSteps}, ignored when that is set). */
  public final int epochs() {
    return epochs;
  }

  /**
   * The longest sequence (prompt and response) in tokens, also capped by the model's context; what
   * happens to a longer one is the configuration's truncation policy or an error naming the record.
   */
  public final int maxLength() {
    return maxLength;
  }

  /** Start every sequence with the tokenizer's BOS. */
  public final boolean addBos() {
    return addBos;
  }

  /**
   * The setters of the epoch-loop settings, returning the concrete builder {@code B}.
   *
   * @param <B> the concrete builder
   */
  public abstract static class Builder<B extends Builder<B>> extends TrainingConfig.Builder<B> {
    private int epochs;
    private int maxLength = 1024;
    private boolean addBos = true;

    /**
     * A builder starting from {@code defaults} and {@code epochs} passes (max length 1024, BOS on);
     * {@code batchName} is the batch size's name in error messages.
     */
    protected Builder(TrainingArguments.Builder defaults, String batchName, int epochs) {
      super(defaults, batchName);
      this.epochs = epochs;
    }

    /** Sets {@link SupervisedConfig#epochs()}. */
    public B epochs(int v) {
      epochs = v;
      return self();
    }

    /** Sets {@link SupervisedConfig#maxLength()}. */
    public B maxLength(int v) {
      maxLength = v;
      return self();
    }

    /** Sets {@link SupervisedConfig#addBos()}. */
    public B addBos(boolean v) {
      addBos = v;
      return self();
    }

    /**
     * The validated shared arguments, after checking the epoch-loop settings; {@link
     * IllegalArgumentException} names the first invalid field.
     */
    protected final TrainingArguments buildSupervised() {
      TrainingArguments training = buildTraining();
      checkArgument(epochs >= 1, "epochs must be >= 1, got %s", epochs);
      checkArgument(maxLength >= 2, "maxLength must be >= 2, got %s", maxLength);
      return training;
    }
  }
}
