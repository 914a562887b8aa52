package io.osprey.inference;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** How overlapping detections from neighbouring tiles are combined, as SAHI's {@code postprocess_type}. */
public enum MergeType {
  /** Non-maximum suppression: keep the best box, drop the ones overlapping it. */
  NMS,
  /** Non-maximum merging: boxes overlapping any member of a group join it (transitively), then are unioned. */
  NMM,
  /** Greedy non-maximum merging (SAHI's default): boxes overlapping the best box are unioned into it. */
  GREEDYNMM;

  /**
   * Parses a merge type name, ignoring case ({@code "greedynmm"}, {@code "Nms"}).
   *
   * @throws IllegalArgumentException for null or an unknown name; the message lists the allowed values
   */
  public static MergeType parse(String name) {
    if (name != null) {
      String upper = name.toUpperCase(Locale.ROOT);
      for (MergeType type : values()) {
        if (type.name().equals(upper)) {
          return type;
        }
      }
    }
    throw new IllegalArgumentException("unknown merge type '" + name + "', allowed: "
        + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ")));
  }
}
