package io.osprey.auth;

import java.util.Optional;

/**
 * Permissions carried in a token's {@code permissions} claim (annotations spec: ANN, DATASET, ADM). Names are exact
 * and case-sensitive: the identity service writes them in upper case, and {@code ann} is not {@code ANN}.
 */
public enum Permission {
  /** Annotations, media and their events. */
  ANN,
  /** Dataset routes. */
  DATASET,
  /** Administration: settings, detection classes; sees every user's uploads and jobs. */
  ADM;

  /** The permission spelled exactly {@code name}, or empty (other spellings and other services' names). */
  public static Optional<Permission> byExactName(String name) {
    for (Permission p : values()) {
      if (p.name().equals(name)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }
}
