package io.osprey.eval;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The report as Markdown: the configurations side by side (full against sliced), overall and per class. */
public final class MarkdownReport {
  private MarkdownReport() {
  }

  static String value(double v) {
    return v < 0 ? "-1" : String.format(Locale.ROOT, "%.3f", v);
  }

  /** {@code title} heads the report; {@code context} lines (model, data, machine) follow it as a list. */
  public static String render(String title, List<String> context, AccuracyRun.Report report) {
    StringBuilder sb = new StringBuilder();
    sb.append("## ").append(title).append("\n\n");
    for (String line : context) {
      sb.append("- ").append(line).append('\n');
    }
    for (AccuracyRun.Outcome o : report.outcomes()) {
      sb.append("- **").append(o.config().label()).append("**: ").append(o.config().describe()).append('\n');
    }
    for (ClassMapping.Unmapped u : report.mapping().unmapped()) {
      sb.append("- not evaluated: category '").append(u.name()).append("' (").append(u.annotations())
          .append(" objects): ").append(u.reason()).append('\n');
    }
    sb.append('\n');
    List<AccuracyRun.Outcome> outcomes = report.outcomes();
    header(sb, "metric", outcomes);
    Map<String, Double> first = outcomes.get(0).result().summary().metrics();
    for (String metric : first.keySet()) {
      sb.append("| ").append(metric);
      for (AccuracyRun.Outcome o : outcomes) {
        sb.append(" | ").append(value(o.result().summary().metrics().get(metric)));
      }
      sb.append(" |\n");
    }
    for (String area : List.of("all", "small", "medium", "large")) {
      sb.append("| found @.5, ").append(area);
      for (AccuracyRun.Outcome o : outcomes) {
        CocoEval.Counts c = o.result().summary().counts().get(area);
        sb.append(" | ").append(c.found()).append('/').append(c.truth());
      }
      sb.append(" |\n");
    }
    sb.append("| false positives @.5");
    for (AccuracyRun.Outcome o : outcomes) {
      sb.append(" | ").append(o.result().summary().all().falsePositives());
    }
    sb.append(" |\n| detections (all classes)");
    for (AccuracyRun.Outcome o : outcomes) {
      sb.append(" | ").append(o.detections());
    }
    sb.append(" |\n\n");
    if (report.evaluated().categories().size() > 1) {
      sb.append("Per class (AP / AP50 / AR100):\n\n");
      header(sb, "class", outcomes);
      for (long id : outcomes.get(0).result().categoryIds()) {
        sb.append("| ").append(outcomes.get(0).result().name(id));
        List<String> mapped = report.mapping().modelClasses(id);
        if (!mapped.isEmpty()) {
          sb.append(" (").append(String.join(", ", mapped)).append(')');
        }
        for (AccuracyRun.Outcome o : outcomes) {
          CocoEval.Summary s = o.result().summary(id);
          sb.append(" | ").append(value(s.ap())).append(" / ").append(value(s.ap50())).append(" / ")
              .append(value(s.ar100()));
        }
        sb.append(" |\n");
      }
      sb.append('\n');
    } else {
      long id = outcomes.get(0).result().categoryIds()[0];
      sb.append("One class: ").append(outcomes.get(0).result().name(id)).append(" (model classes: ")
          .append(String.join(", ", report.mapping().modelClasses(id))).append(").\n\n");
    }
    sb.append("-1: no ground truth in that range (left out of every mean, as in pycocotools). \"found @.5\": objects"
        + " of that size matched by a detection at IoU >= .5 (100 detections per image).\n");
    return sb.toString();
  }

  private static void header(StringBuilder sb, String first, List<AccuracyRun.Outcome> outcomes) {
    sb.append("| ").append(first);
    for (AccuracyRun.Outcome o : outcomes) {
      sb.append(" | ").append(o.config().label());
    }
    sb.append(" |\n|---");
    outcomes.forEach(o -> sb.append("|---:"));
    sb.append("|\n");
  }
}
