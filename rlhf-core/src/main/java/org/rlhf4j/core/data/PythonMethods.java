package org.rlhf4j.core.data;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's string and dict methods for Jinjava, so that chat templates written for Python's Jinja
 * can call {@code s.strip()}, {@code s.startswith('x')}, {@code s.split('\n')}, {@code
 * d.items()}, ... as {@code transformers} lets them. Only method calls on strings and maps are
 * handled; everything else falls through to Jinjava's own resolver.
 */
final class PythonMethods extends ELResolver {

  @Override
  public Object invoke(
      ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
    if (method == null) {
      return null;
    }
    Object[] args = params == null ? new Object[0] : params;
    String name = method.toString();
    Object result;
    if (base instanceof String) {
      result = string((String) base, name, args);
    } else if (base instanceof Map) {
      result = map((Map<?, ?>) base, name, args);
    } else {
      return null;
    }
    if (result == NONE) {
      return null;
    }
    context.setPropertyResolved(true);
    return result;
  }

  private static final Object NONE = new Object();

  private static Object string(String s, String name, Object[] a) {
    switch (name) {
      case "strip":
        return strip(s, a.length > 0 ? a[0] : null, true, true);
      case "lstrip":
        return strip(s, a.length > 0 ? a[0] : null, true, false);
      case "rstrip":
        return strip(s, a.length > 0 ? a[0] : null, false, true);
      case "startswith":
        return a.length == 1 ? anyMatch(a[0], p -> s.startsWith(p)) : NONE;
      case "endswith":
        return a.length == 1 ? anyMatch(a[0], p -> s.endsWith(p)) : NONE;
      case "upper":
        return a.length == 0 ? s.toUpperCase(Locale.ROOT) : NONE;
      case "lower":
        return a.length == 0 ? s.toLowerCase(Locale.ROOT) : NONE;
      case "title":
        return a.length == 0 ? title(s) : NONE;
      case "capitalize":
        return a.length == 0
            ? (s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT))
            : NONE;
      case "split":
        return split(s, a.length > 0 ? a[0] : null, a.length > 1 ? ((Number) a[1]).intValue() : -1);
      case "replace":
        return a.length == 2 ? s.replace(String.valueOf(a[0]), String.valueOf(a[1])) : NONE;
      case "find":
        return a.length == 1 ? (long) s.indexOf(String.valueOf(a[0])) : NONE;
      case "join":
        if (a.length == 1 && a[0] instanceof Collection) {
          List<String> parts = new ArrayList<>();
          for (Object o : (Collection<?>) a[0]) {
            parts.add(String.valueOf(o));
          }
          return String.join(s, parts);
        }
        return NONE;
      default:
        return NONE;
    }
  }

  private static Object map(Map<?, ?> m, String name, Object[] a) {
    switch (name) {
      case "items":
        {
          if (a.length != 0) {
            return NONE;
          }
          List<List<Object>> out = new ArrayList<>();
          for (Map.Entry<?, ?> e : m.entrySet()) {
            out.add(Arrays.asList(e.getKey(), e.getValue()));
          }
          return out;
        }
      case "keys":
        return a.length == 0 ? new ArrayList<>(m.keySet()) : NONE;
      case "values":
        return a.length == 0 ? new ArrayList<>(m.values()) : NONE;
      case "get":
        if (a.length == 1 || a.length == 2) {
          Object v = m.get(a[0]);
          return v != null || m.containsKey(a[0]) ? v : (a.length == 2 ? a[1] : null);
        }
        return NONE;
      default:
        return NONE;
    }
  }

  private static boolean anyMatch(Object prefixes, Predicate<String> test) {
    if (prefixes instanceof Collection) {
      for (Object p : (Collection<?>) prefixes) {
        if (test.test(String.valueOf(p))) {
          return true;
        }
      }
      return false;
    }
    return test.test(String.valueOf(prefixes));
  }

  private static String strip(String s, Object chars, boolean left, boolean right) {
    String set = chars == null ? null : String.valueOf(chars);
    int from = 0;
    int to = s.length();
    while (left && from < to && strippable(s.charAt(from), set)) {
      from++;
    }
    while (right && to > from && strippable(s.charAt(to - 1), set)) {
      to--;
    }
    return s.substring(from, to);
  }

  private static boolean strippable(char c, String set) {
    return set == null ? Character.isWhitespace(c) || Character.isSpaceChar(c) : set.indexOf(c) >= 0;
  }

  private static String title(String s) {
    StringBuilder b = new StringBuilder(s.length());
    boolean prevCased = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      b.append(prevCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
      prevCased = Character.isLetter(c);
    }
    return b.toString();
  }

  private static List<String> split(String s, Object sep, int maxsplit) {
    List<String> out = new ArrayList<>();
    if (sep == null) {
      // Python's split(): runs of whitespace, no empty strings
      int i = 0;
      int n = s.length();
      while (i < n) {
        while (i < n && Character.isWhitespace(s.charAt(i))) {
          i++;
        }
        if (i >= n) {
          break;
        }
        if (maxsplit >= 0 && out.size() == maxsplit) {
          out.add(s.substring(i).stripTrailing());
          return out;
        }
        int j = i;
        while (j < n && !Character.isWhitespace(s.charAt(j))) {
          j++;
        }
        out.add(s.substring(i, j));
        i = j;
      }
      return out;
    }
    String d = String.valueOf(sep);
    if (d.isEmpty()) {
      throw new IllegalArgumentException("empty separator");
    }
    int start = 0;
    while (maxsplit < 0 || out.size() < maxsplit) {
      int k = s.indexOf(d, start);
      if (k < 0) {
        break;
      }
      out.add(s.substring(start, k));
      start = k + d.length();
    }
    out.add(s.substring(start));
    return out;
  }

  // ------------------------------------------------------- not a property resolver

  @Override
  public Object getValue(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public Class<?> getType(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public void setValue(ELContext context, Object base, Object property, Object value) {}

  @Override
  public boolean isReadOnly(ELContext context, Object base, Object property) {
    return false;
  }

  @Override
  public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
    return null;
  }

  @Override
  public Class<?> getCommonPropertyType(ELContext context, Object base) {
    return null;
  }
}
