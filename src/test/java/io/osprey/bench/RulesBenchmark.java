package io.osprey.bench;

import io.osprey.inference.Detection;
import io.osprey.rules.RuleSets;
import io.osprey.rules.RulesStage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Cost of the rules stage per image at 10, 100 and 1,000 detections, for each shipped rule set: synthetic car
 * and person boxes scattered over a 4000x3000 image (a fixed seed), partly in rows, with a ground sample distance
 * so size_limits has work. Prints the median and p90 of repeated runs after a warm-up.
 * Usage: {@code scripts/bench-rules.sh [--repeats N]}
 */
public final class RulesBenchmark {
  public static void main(String[] args) throws Exception {
    int repeats = args.length > 1 && args[0].equals("--repeats") ? Integer.parseInt(args[1]) : 20;
    List<String> names = List.of("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck");
    RulesStage stage = new RulesStage(new RuleSets(Path.of("conf", "rules")), 600_000);
    System.out.printf("machine: %d cores, java %s; median and p90 of %d runs per cell, ms per image%n",
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), repeats);
    System.out.printf("%-20s %14s %14s %14s%n", "rule set", "10 boxes", "100 boxes", "1000 boxes");
    for (String ruleSet : List.of("size_limits", "people_in_vehicles", "parked_rows")) {
      StringBuilder row = new StringBuilder(String.format("%-20s", ruleSet));
      for (int n : new int[] {10, 100, 1000}) {
        List<Detection> boxes = scene(n, new Random(42), names);
        RulesStage.ImageFacts facts = new RulesStage.ImageFacts(4000, 3000, "bench.jpg", Map.of("gsd", 0.1),
            Map.of());
        int runs = n == 1000 ? Math.max(3, repeats / 4) : repeats;
        for (int w = 0; w < 3; w++) {
          stage.apply(ruleSet, facts, boxes, names);
        }
        double[] ms = new double[runs];
        for (int i = 0; i < runs; i++) {
          long t = System.nanoTime();
          stage.apply(ruleSet, facts, boxes, names);
          ms[i] = (System.nanoTime() - t) / 1e6;
        }
        Arrays.sort(ms);
        row.append(String.format(" %6.1f / %5.1f", ms[runs / 2], ms[(int) Math.min(runs - 1, Math.ceil(runs * 0.9))]));
      }
      System.out.println(row);
    }
  }

  /** Cars (45x22 px, some in rows of 5) and a few people, over 4000x3000. */
  private static List<Detection> scene(int n, Random random, List<String> names) {
    List<Detection> out = new ArrayList<>();
    while (out.size() < n) {
      float x = random.nextFloat() * 3700;
      float y = random.nextFloat() * 2900;
      if (random.nextInt(4) == 0) {
        out.add(new Detection(0, "person", 0.3f + random.nextFloat() * 0.6f, x, y, x + 8, y + 8));
        continue;
      }
      int row = Math.min(5, n - out.size());
      for (int k = 0; k < row; k++) {
        float rx = x + k * 55;
        out.add(new Detection(names.indexOf("car"), "car", 0.3f + random.nextFloat() * 0.6f, rx, y, rx + 45, y + 22));
      }
    }
    return out.subList(0, n);
  }
}
