package io.osprey.annotations;

import java.util.Locale;

/**
 * Lifecycle of an annotation, with the numbers of the original service's enum. Requests may name a status or give
 * its number; answers always carry the name. Deleted is a soft delete: the row and files stay until purged.
 */
public enum AnnotationStatus {
  CREATED(10, "Created"),
  EDITED(20, "Edited"),
  VALIDATED(30, "Validated"),
  DELETED(40, "Deleted");

  private final int code;
  private final String wire;

  AnnotationStatus(int code, String wire) {
    this.code = code;
    this.wire = wire;
  }

  public int code() {
    return code;
  }

  public String wire() {
    return wire;
  }

  public static AnnotationStatus ofCode(int code) {
    for (AnnotationStatus s : values()) {
      if (s.code == code) {
        return s;
      }
    }
    throw new IllegalArgumentException("no status " + code);
  }

  /** From a JSON value or query parameter: a name (any case) or a number; null when it is neither. */
  public static AnnotationStatus parse(Object value) {
    if (value instanceof Number n && n.doubleValue() == n.intValue()) {
      for (AnnotationStatus s : values()) {
        if (s.code == n.intValue()) {
          return s;
        }
      }
      return null;
    }
    if (value instanceof String text) {
      String t = text.strip();
      if (t.matches("\\d{1,3}")) {
        return parse(Integer.parseInt(t));
      }
      for (AnnotationStatus s : values()) {
        if (s.wire.toLowerCase(Locale.ROOT).equals(t.toLowerCase(Locale.ROOT))) {
          return s;
        }
      }
    }
    return null;
  }

  /** The outbox/live-event operation a change to this status is. */
  public String operationOfChange() {
    return switch (this) {
      case VALIDATED -> Operation.VALIDATED;
      case DELETED -> Operation.DELETED;
      default -> Operation.STATUS_CHANGED;
    };
  }

  public static String names() {
    return "Created (10), Edited (20), Validated (30), Deleted (40)";
  }

  /** Operations carried by live events and outbox rows. */
  public static final class Operation {
    public static final String CREATED = "Created";
    public static final String EDITED = "Edited";
    public static final String VALIDATED = "Validated";
    public static final String STATUS_CHANGED = "StatusChanged";
    public static final String DELETED = "Deleted";

    private Operation() {
    }
  }
}
