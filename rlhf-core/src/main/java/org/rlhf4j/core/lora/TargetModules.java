package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.util.Collection;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Which modules of a model get (or are excluded from) LoRA adapters, with PEFT's matching rules
 * ({@code peft.tuners.tuners_utils.check_target_module_exists}): a <b>list</b> of names matches a
 * module whose full name (e.g. {@code model.layers.0.self_attn.q_proj}) equals one of them or ends
 * with {@code "." + name}; a <b>regular expression</b> must match the whole module name
 * ({@code re.fullmatch}); {@code all-linear} (PEFT's shorthand) matches every linear layer of the
 * model except the output layer {@code lm_head}. Immutable.
 */
public final class TargetModules {
  /** PEFT's shorthand for every linear layer but the output layer. */
  public static final String ALL_LINEAR = "all-linear";

  private final ImmutableList<String> names; // null for a regex or all-linear
  private final Pattern regex; // null for a list or all-linear
  private final boolean allLinear;

  private TargetModules(ImmutableList<String> names, Pattern regex, boolean allLinear) {
    this.names = names;
    this.regex = regex;
    this.allLinear = allLinear;
  }

  /**
   * Modules named (or whose full name ends with {@code "." + name}) by one of {@code names}, e.g.
   * {@code q_proj, v_proj}.
   *
   * @throws IllegalArgumentException if {@code names} is empty or has an empty name
   */
  public static TargetModules of(Collection<String> names) {
    checkNotNull(names, "names");
    checkArgument(!names.isEmpty(), "target module names must not be empty");
    for (String n : names) {
      checkArgument(n != null && !n.isEmpty(), "target module names must not be empty: %s", names);
    }
    return new TargetModules(ImmutableList.copyOf(names), null, false);
  }

  /** As {@link #of(Collection)}. */
  public static TargetModules of(String... names) {
    return of(List.of(names));
  }

  /**
   * Modules whose whole name matches {@code regex} (Python's {@code re.fullmatch}); the string
   * {@value #ALL_LINEAR} gives {@link #allLinear()} instead, as in PEFT.
   *
   * @throws IllegalArgumentException if {@code regex} is empty or not a valid regular expression
   */
  public static TargetModules regex(String regex) {
    checkNotNull(regex, "regex");
    checkArgument(!regex.isEmpty(), "the target-module regular expression must not be empty");
    if (regex.equals(ALL_LINEAR)) {
      return allLinear();
    }
    try {
      return new TargetModules(null, Pattern.compile(regex), false);
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException("target modules: invalid regular expression " + regex + ": " + e.getDescription(), e);
    }
  }

  /** Every linear layer except the output layer {@code lm_head}. */
  public static TargetModules allLinear() {
    return new TargetModules(null, null, true);
  }

  /** Whether this is a list of names (else a regular expression or all-linear). */
  public boolean isList() {
    return names != null;
  }

  /** The names of a list ({@link #isList()}), in the given order. */
  public ImmutableList<String> names() {
    checkArgument(names != null, "these target modules are a regular expression, not a list");
    return names;
  }

  /** The regular expression, {@value #ALL_LINEAR}, or the names joined by commas (for messages). */
  public String pattern() {
    if (allLinear) {
      return ALL_LINEAR;
    }
    return regex != null ? regex.pattern() : String.join(",", names);
  }

  /** Whether this is {@value #ALL_LINEAR}. */
  public boolean isAllLinear() {
    return allLinear;
  }

  /**
   * Whether the module called {@code moduleName} (its full name in the Hugging Face model, without
   * PEFT's {@code base_model.model.} prefix) is matched.
   */
  public boolean matches(String moduleName) {
    checkNotNull(moduleName, "moduleName");
    if (allLinear) {
      return !(moduleName.equals("lm_head") || moduleName.endsWith(".lm_head"));
    }
    if (regex != null) {
      return regex.matcher(moduleName).matches();
    }
    for (String n : names) {
      if (moduleName.equals(n) || moduleName.endsWith("." + n)) {
        return true;
      }
    }
    return false;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TargetModules t
        && allLinear == t.allLinear
        && java.util.Objects.equals(names, t.names)
        && java.util.Objects.equals(regex == null ? null : regex.pattern(), t.regex == null ? null : t.regex.pattern());
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(names, regex == null ? null : regex.pattern(), allLinear);
  }

  @Override
  public String toString() {
    return allLinear ? ALL_LINEAR : regex != null ? "regex(" + regex.pattern() + ")" : names.toString();
  }
}
