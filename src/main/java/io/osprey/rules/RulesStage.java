package io.osprey.rules;

import io.osprey.inference.Detection;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.projog.api.Projog;
import org.projog.api.QueryResult;
import org.projog.api.QueryStatement;
import org.projog.core.ProjogException;
import org.projog.core.event.ProjogListener;
import org.projog.core.event.SpyPoints;
import org.projog.core.predicate.PredicateKey;
import org.projog.core.term.Term;
import org.projog.core.term.TermUtils;

/**
 * The symbolic stage after NMS: asserts one image's facts into a Prolog interpreter holding the chosen rule set,
 * asks it for {@code suppress/2}, {@code relabel/2} and {@code adjust/2}, applies the answers (suppress wins over
 * relabel, relabel over adjust; the first answer per box counts) and records which rule touched which box.
 *
 * <p>Interpreters are kept per thread and per rule-file version, since consulting costs far more than one image's
 * facts. The time budget is checked at every call of a library or rule-set predicate (Projog spy points), so a
 * runaway rule is stopped with RULES_ERROR instead of holding a worker.
 */
public final class RulesStage {
  private final RuleSets ruleSets;
  private final long budgetNanos;
  private final ThreadLocal<Map<String, Interpreter>> interpreters = ThreadLocal.withInitial(HashMap::new);

  public RulesStage(RuleSets ruleSets, long budgetMillis) {
    this.ruleSets = ruleSets;
    this.budgetNanos = budgetMillis * 1_000_000L;
  }

  public RuleSets ruleSets() {
    return ruleSets;
  }

  /** What the stage did to one box that is kept. */
  public record Note(String action, String reason, Object from, Object to) {
  }

  /** The detections kept (in input order), their notes, and the suppressed ones with reasons. */
  public record Outcome(String ruleSet, List<Detection> kept, List<List<Note>> notes, List<Detection> suppressed,
                        List<String> suppressedReasons) {
  }

  /** Image-level facts: metadata of the job (gsd, altitude, time of day, ...) and the rule set's parameters. */
  public record ImageFacts(int width, int height, String fileName, Map<String, Object> meta,
                           Map<String, Object> params) {
  }

  private static final class Interpreter implements ProjogListener {
    final Projog projog;
    long deadline = Long.MAX_VALUE;

    Interpreter(RuleSets.Version version) throws RulesException {
      this.projog = RuleSets.interpreter(version, this);
      for (PredicateKey key : projog.getKnowledgeBase().getPredicates().getUserDefinedPredicates().keySet()) {
        projog.getKnowledgeBase().getSpyPoints().setSpyPoint(key, true);
      }
    }

    @Override
    public void onCall(SpyPoints.SpyPointEvent event) {
      if (System.nanoTime() > deadline) {
        throw new BudgetExceeded(event.getPredicateKey().toString());
      }
    }

    @Override
    public void onRedo(SpyPoints.SpyPointEvent event) {
      onCall(event);
    }

    @Override
    public void onExit(SpyPoints.SpyPointExitEvent event) {
    }

    @Override
    public void onFail(SpyPoints.SpyPointEvent event) {
    }

    @Override
    public void onWarn(String message) {
    }

    @Override
    public void onInfo(String message) {
    }
  }

  private static final class BudgetExceeded extends RuntimeException {
    BudgetExceeded(String predicate) {
      super(predicate, null, false, false);
    }
  }

  public Outcome apply(String ruleSet, ImageFacts facts, List<Detection> detections, List<String> classNames)
      throws RulesException {
    RuleSets.Version version = ruleSets.current(ruleSet);
    String key = version.name() + "@" + version.stamp();
    Map<String, Interpreter> mine = interpreters.get();
    Interpreter interpreter = mine.get(key);
    if (interpreter == null) {
      mine.keySet().removeIf(k -> k.startsWith(version.name() + "@"));
      interpreter = new Interpreter(version);
      mine.put(key, interpreter);
    }
    Projog p = interpreter.projog;
    interpreter.deadline = System.nanoTime() + budgetNanos;
    try {
      assertFacts(p, facts, detections);
      Map<Integer, String> suppress = answers(p, "suppress(Id, Reason).", "Reason");
      Map<Integer, String> relabel = answers(p, "relabel(Id, Class).", "Class");
      Map<Integer, String> adjust = answers(p, "adjust(Id, Score).", "Score");
      return outcome(ruleSet, version, detections, classNames, suppress, relabel, adjust);
    } catch (BudgetExceeded e) {
      mine.remove(key);
      throw new RulesException("rules file " + version.file() + ": time budget of " + budgetNanos / 1_000_000
          + " ms per image exceeded (in " + e.getMessage() + ")");
    } catch (ProjogException | ClassCastException | NumberFormatException e) {
      mine.remove(key);
      BudgetExceeded budget = find(e);
      if (overflowed(e)) {
        throw new RulesException(RuleSets.describe(version.file(), e)
            + ": recursion too deep (stack overflow); write the rule so it terminates on the image's facts", e);
      }
      if (budget != null) {
        throw new RulesException("rules file " + version.file() + ": time budget of " + budgetNanos / 1_000_000
            + " ms per image exceeded (in " + budget.getMessage() + ")");
      }
      throw new RulesException(RuleSets.describe(version.file(), e) + causes(e), e);
    } finally {
      interpreter.deadline = Long.MAX_VALUE;
      if (mine.containsKey(key)) {
        retract(p);
      }
    }
  }

  private static BudgetExceeded find(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof BudgetExceeded b) {
        return b;
      }
    }
    return null;
  }

  private static boolean overflowed(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof StackOverflowError) {
        return true;
      }
    }
    return false;
  }

  private static String causes(Throwable e) {
    StringBuilder sb = new StringBuilder();
    for (Throwable t = e.getCause(); t != null && sb.length() < 300; t = t.getCause()) {
      if (t.getMessage() != null) {
        sb.append(" / ").append(t.getMessage().lines().findFirst().orElse(""));
      }
    }
    return sb.toString();
  }

  /** Values are bound through statements, never spliced into query text, so no class or file name can inject code. */
  private static void assertFacts(Projog p, ImageFacts facts, List<Detection> detections) {
    QueryStatement image = p.createStatement("assertz(image(W, H, F)).");
    image.setLong("W", facts.width());
    image.setLong("H", facts.height());
    image.setAtomName("F", facts.fileName());
    image.executeOnce();
    assertPairs(p, "meta", facts.meta());
    assertPairs(p, "param", facts.params());
    for (int i = 0; i < detections.size(); i++) {
      Detection d = detections.get(i);
      QueryStatement detection = p.createStatement("assertz(detection(Id, C, S, X1, Y1, X2, Y2)).");
      detection.setLong("Id", i + 1);
      detection.setAtomName("C", d.className());
      detection.setDouble("S", d.score());
      detection.setDouble("X1", d.x1());
      detection.setDouble("Y1", d.y1());
      detection.setDouble("X2", d.x2());
      detection.setDouble("Y2", d.y2());
      detection.executeOnce();
    }
    assertNear(p, detections);
  }

  /** Pairs closer than this many times the longer of their two long sides are asserted as near/3. */
  static final double NEAR_FACTOR = 3.0;

  /**
   * Asserts {@code near(A, B, Distance)} (both directions) for boxes whose centres lie within {@link #NEAR_FACTOR}
   * long sides of each other. Found with a sweep over centres sorted by x, so rules about neighbours cost O(n·k)
   * instead of scanning every pair in Prolog, which took 72 s per image at 1,000 boxes.
   */
  private static void assertNear(Projog p, List<Detection> detections) {
    int n = detections.size();
    Integer[] order = new Integer[n];
    double[] cx = new double[n];
    double[] cy = new double[n];
    double[] reach = new double[n];
    double maxReach = 0;
    for (int i = 0; i < n; i++) {
      Detection d = detections.get(i);
      order[i] = i;
      cx[i] = (d.x1() + d.x2()) / 2.0;
      cy[i] = (d.y1() + d.y2()) / 2.0;
      reach[i] = NEAR_FACTOR * Math.max(d.width(), d.height());
      maxReach = Math.max(maxReach, reach[i]);
    }
    java.util.Arrays.sort(order, (a, b) -> Double.compare(cx[a], cx[b]));
    for (int oi = 0; oi < n; oi++) {
      int a = order[oi];
      for (int oj = oi + 1; oj < n && cx[order[oj]] - cx[a] <= maxReach; oj++) {
        int b = order[oj];
        double dist = Math.hypot(cx[a] - cx[b], cy[a] - cy[b]);
        if (dist <= Math.max(reach[a], reach[b])) {
          for (int[] pair : new int[][] {{a, b}, {b, a}}) {
            QueryStatement near = p.createStatement("assertz(near(A, B, D)).");
            near.setLong("A", pair[0] + 1);
            near.setLong("B", pair[1] + 1);
            near.setDouble("D", dist);
            near.executeOnce();
          }
        }
      }
    }
  }

  private static void assertPairs(Projog p, String functor, Map<String, Object> pairs) {
    if (pairs == null) {
      return;
    }
    for (Map.Entry<String, Object> e : pairs.entrySet()) {
      QueryStatement s = p.createStatement("assertz(" + functor + "(K, V)).");
      s.setAtomName("K", e.getKey());
      if (e.getValue() instanceof Number n) {
        s.setDouble("V", n.doubleValue());
      } else {
        s.setAtomName("V", String.valueOf(e.getValue()));
      }
      s.executeOnce();
    }
  }

  private static void retract(Projog p) {
    p.executeOnce("retractall(image(_, _, _)).");
    p.executeOnce("retractall(meta(_, _)).");
    p.executeOnce("retractall(param(_, _)).");
    p.executeOnce("retractall(detection(_, _, _, _, _, _, _)).");
    p.executeOnce("retractall(near(_, _, _)).");
  }

  /** First answer per detection id; the value as an atom name or number text. */
  private static Map<Integer, String> answers(Projog p, String query, String variable) {
    Map<Integer, String> out = new LinkedHashMap<>();
    QueryResult r = p.executeQuery(query);
    while (r.next()) {
      int id = (int) TermUtils.castToNumeric(r.getTerm("Id")).getLong();
      Term value = r.getTerm(variable);
      out.putIfAbsent(id, value.getType().isNumeric()
          ? Double.toString(TermUtils.castToNumeric(value).getDouble()) : p.formatTerm(value));
    }
    return out;
  }

  private static Outcome outcome(String ruleSet, RuleSets.Version version, List<Detection> detections,
                                 List<String> classNames, Map<Integer, String> suppress, Map<Integer, String> relabel,
                                 Map<Integer, String> adjust) throws RulesException {
    List<Detection> kept = new ArrayList<>();
    List<List<Note>> notes = new ArrayList<>();
    List<Detection> suppressed = new ArrayList<>();
    List<String> reasons = new ArrayList<>();
    for (int i = 0; i < detections.size(); i++) {
      int id = i + 1;
      Detection d = detections.get(i);
      if (suppress.containsKey(id)) {
        suppressed.add(d);
        reasons.add(suppress.get(id));
        continue;
      }
      List<Note> boxNotes = new ArrayList<>();
      if (relabel.containsKey(id)) {
        String name = relabel.get(id).toLowerCase(Locale.ROOT);
        int classId = classNames.indexOf(name);
        boxNotes.add(new Note("relabel", null, d.className(), name));
        d = new Detection(classId, name, d.score(), d.x1(), d.y1(), d.x2(), d.y2());
      }
      if (adjust.containsKey(id)) {
        double value;
        try {
          value = Double.parseDouble(adjust.get(id));
        } catch (NumberFormatException e) {
          throw new RulesException("rules file " + version.file() + ": adjust(" + id + ", " + adjust.get(id)
              + ") does not give a number");
        }
        float score = (float) Math.max(0, Math.min(1, value));
        boxNotes.add(new Note("adjust", null, round(d.score()), round(score)));
        d = new Detection(d.classId(), d.className(), score, d.x1(), d.y1(), d.x2(), d.y2());
      }
      kept.add(d);
      notes.add(boxNotes);
    }
    return new Outcome(ruleSet, kept, notes, suppressed, reasons);
  }

  private static double round(double v) {
    return Math.round(v * 10000) / 10000.0;
  }
}
