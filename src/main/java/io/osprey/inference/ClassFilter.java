package io.osprey.inference;

import java.util.List;
import java.util.Locale;
import java.util.function.IntPredicate;

/** Include/exclude lists of class names or ids, resolved once against a model's names. */
public final class ClassFilter {
  private ClassFilter() {
  }

  /** @throws IllegalArgumentException naming an entry that is neither a known class name nor an id */
  public static IntPredicate of(List<String> include, List<String> exclude, List<String> names) {
    if (include.isEmpty() && exclude.isEmpty()) {
      return c -> true;
    }
    int size = Math.max(names.size(), 1 + maxId(include, exclude));
    boolean[] allowed = new boolean[size];
    java.util.Arrays.fill(allowed, include.isEmpty());
    for (String entry : include) {
      allowed[resolve(entry, names)] = true;
    }
    for (String entry : exclude) {
      allowed[resolve(entry, names)] = false;
    }
    return c -> c >= 0 && c < allowed.length && allowed[c];
  }

  private static int maxId(List<String> include, List<String> exclude) {
    int max = -1;
    for (List<String> list : List.of(include, exclude)) {
      for (String s : list) {
        if (s.strip().matches("\\d+")) {
          max = Math.max(max, Integer.parseInt(s.strip()));
        }
      }
    }
    return max;
  }

  static int resolve(String entry, List<String> names) {
    String key = entry.strip();
    if (key.matches("\\d+")) {
      return Integer.parseInt(key);
    }
    for (int i = 0; i < names.size(); i++) {
      if (names.get(i).equalsIgnoreCase(key)) {
        return i;
      }
    }
    throw new IllegalArgumentException("unknown class '" + entry + "'; the model's classes are "
        + (names.size() > 12 ? names.subList(0, 12) + "…" : names).toString().toLowerCase(Locale.ROOT));
  }
}
