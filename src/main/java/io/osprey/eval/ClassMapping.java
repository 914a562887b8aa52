package io.osprey.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Which model classes stand for which ground-truth category. By name (case-insensitive): a category named "car"
 * takes the model's "car" detections. {@code --map human=person} or {@code --map car=car,truck,bus} replaces a
 * category's names (aerial sets name things differently from COCO; a model may call one car "truck").
 *
 * <p>A category the model has no class for cannot be detected at all: it is left out of the evaluation and listed
 * in {@link #unmapped()} (with the number of objects it has), unless the caller chooses to score it (then it counts
 * 0 wherever it has ground truth, which is what pycocotools reports when asked to evaluate it). Detections of model
 * classes that map to no category are not evaluated, as pycocotools ignores detections outside its category ids.
 */
public final class ClassMapping {
  /** A ground-truth category no model class stands for, and why. */
  public record Unmapped(long categoryId, String name, long annotations, String reason) {
  }

  private final Map<String, Long> byModelName = new LinkedHashMap<>();
  private final Map<Long, List<String>> modelNames = new LinkedHashMap<>();
  private final List<Unmapped> unmapped = new ArrayList<>();

  private ClassMapping() {
  }

  /**
   * @param modelClasses the model's class names, or null when unknown (then every named class is assumed to exist)
   * @param aliases      ground-truth category name → model class names that count as it
   * @throws IllegalArgumentException for an alias of no category, a name the model does not have, or a model class
   *                                  claimed by two categories
   */
  public static ClassMapping of(CocoDataset truth, List<String> modelClasses, Map<String, List<String>> aliases) {
    ClassMapping m = new ClassMapping();
    Map<String, String> known = null;
    if (modelClasses != null) {
      known = new LinkedHashMap<>();
      for (String c : modelClasses) {
        known.putIfAbsent(key(c), c);
      }
    }
    Map<String, List<String>> alias = new LinkedHashMap<>();
    aliases.forEach((k, v) -> alias.put(key(k), v));
    for (String name : alias.keySet()) {
      if (truth.categories().stream().noneMatch(c -> key(c.name()).equals(name))) {
        throw new IllegalArgumentException("--map names '" + name + "', which is no category of the ground truth "
            + "(categories: " + truth.categories().stream().map(CocoDataset.Category::name).toList() + ")");
      }
    }
    for (CocoDataset.Category c : truth.categories()) {
      long count = truth.annotations().stream().filter(a -> a.categoryId() == c.id()).count();
      List<String> targets = alias.getOrDefault(key(c.name()), List.of(c.name()));
      List<String> resolved = new ArrayList<>();
      for (String t : targets) {
        if (known == null) {
          resolved.add(t.strip());
        } else if (known.containsKey(key(t))) {
          resolved.add(known.get(key(t)));
        } else if (alias.containsKey(key(c.name()))) {
          throw new IllegalArgumentException("--map " + c.name() + "=" + String.join(",", targets) + ": the model has"
              + " no class '" + t.strip() + "'");
        }
      }
      if (resolved.isEmpty()) {
        m.unmapped.add(new Unmapped(c.id(), c.name(), count, "the model has no class named '" + c.name()
            + "' (map it with --map " + c.name() + "=<model class>[,<model class>...])"));
        continue;
      }
      for (String r : resolved) {
        Long before = m.byModelName.put(key(r), c.id());
        if (before != null && before != c.id()) {
          throw new IllegalArgumentException("model class '" + r + "' would count as two categories (ids " + before
              + " and " + c.id() + ")");
        }
      }
      m.modelNames.put(c.id(), List.copyOf(resolved));
    }
    return m;
  }

  private static String key(String name) {
    return name.strip().toLowerCase(Locale.ROOT);
  }

  /** The ground-truth category a model class counts as, or null for none. */
  public Long categoryOf(String modelClass) {
    return modelClass == null ? null : byModelName.get(key(modelClass));
  }

  /** The model classes that count as a category (empty for an unmapped one). */
  public List<String> modelClasses(long categoryId) {
    return modelNames.getOrDefault(categoryId, List.of());
  }

  public boolean mapped(long categoryId) {
    return modelNames.containsKey(categoryId);
  }

  public List<Unmapped> unmapped() {
    return List.copyOf(unmapped);
  }
}
