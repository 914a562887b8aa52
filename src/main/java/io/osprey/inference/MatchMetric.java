package io.osprey.inference;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** How two boxes' overlap is scored when merging detections, as SAHI's {@code match_metric}. */
public enum MatchMetric {
  /** Intersection over union. */
  IOU,
  /** Intersection over the smaller box's area: a box cut in two by a tile edge still scores high against its parts. */
  IOS;

  /**
   * Parses a metric name, ignoring case ({@code "ios"}, {@code "IoU"}).
   *
   * @throws IllegalArgumentException for null or an unknown name; the message lists the allowed values
   */
  public static MatchMetric parse(String name) {
    if (name != null) {
      String upper = name.toUpperCase(Locale.ROOT);
      for (MatchMetric metric : values()) {
        if (metric.name().equals(upper)) {
          return metric;
        }
      }
    }
    throw new IllegalArgumentException("unknown match metric '" + name + "', allowed: " + allowed());
  }

  private static String allowed() {
    return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
  }
}
