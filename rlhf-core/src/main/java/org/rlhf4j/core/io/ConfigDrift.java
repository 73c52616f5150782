package org.rlhf4j.core.io;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;

/**
 * The keys on which two configuration maps (as written to checkpoints) differ, e.g. {@code
 * learning_rate: checkpoint 3.0E-5, now 1.0E-4}. Numbers are compared by value, so {@code 1} and
 * {@code 1.0} (as JSON may read them back) are equal.
 */
public final class ConfigDrift {
  private ConfigDrift() {}

  /** {@code ""} when the maps agree; otherwise one {@code key: checkpoint X, now Y} per differing key, joined by {@code "; "}. */
  public static String describe(Map<String, ?> checkpoint, Map<String, ?> now) {
    StringBuilder sb = new StringBuilder();
    TreeSet<String> keys = new TreeSet<>(checkpoint.keySet());
    keys.addAll(now.keySet());
    for (String k : keys) {
      Object a = checkpoint.get(k);
      Object b = now.get(k);
      if (!same(a, b)) {
        if (sb.length() > 0) {
          sb.append("; ");
        }
        sb.append(k).append(": checkpoint ").append(checkpoint.containsKey(k) ? a : "(absent)")
            .append(", now ").append(now.containsKey(k) ? b : "(absent)");
      }
    }
    return sb.toString();
  }

  private static boolean same(Object a, Object b) {
    if (a instanceof Number x && b instanceof Number y) {
      return Double.compare(x.doubleValue(), y.doubleValue()) == 0;
    }
    if (a instanceof Map<?, ?> x && b instanceof Map<?, ?> y) {
      @SuppressWarnings("unchecked")
      Map<String, ?> mx = (Map<String, ?>) x;
      @SuppressWarnings("unchecked")
      Map<String, ?> my = (Map<String, ?>) y;
      return describe(mx, my).isEmpty();
    }
    if (a instanceof List<?> x && b instanceof List<?> y) {
      if (x.size() != y.size()) {
        return false;
      }
      for (int i = 0; i < x.size(); i++) {
        if (!same(x.get(i), y.get(i))) {
          return false;
        }
      }
      return true;
    }
    return Objects.equals(a, b);
  }
}
