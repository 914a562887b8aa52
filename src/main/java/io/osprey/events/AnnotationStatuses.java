package io.osprey.events;

/**
 * The annotation status vocabulary the {@code status} filter of the event stream accepts. Owned here and
 * implemented by the composition root over the annotations module's enum, so {@code events} does not depend on
 * {@code annotations}.
 */
public interface AnnotationStatuses {
  /** The status as live events carry it ({@code "Validated"}), from a name in any case or a number; null if neither. */
  String wireName(String value);

  /** The accepted values, for the error message. */
  String names();
}
