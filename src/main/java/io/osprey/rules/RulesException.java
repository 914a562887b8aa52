package io.osprey.rules;

/** A rule set that does not parse, throws, or overruns its time budget; the job fails with RULES_ERROR. */
public final class RulesException extends Exception {
  public RulesException(String message) {
    super(message);
  }

  public RulesException(String message, Throwable cause) {
    super(message, cause);
  }
}
