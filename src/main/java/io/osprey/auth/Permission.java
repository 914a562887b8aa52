package io.osprey.auth;

/** Permissions carried in a token's {@code permissions} claim (annotations spec: ANN, DATASET, ADM). */
public enum Permission {
  /** Annotations, media and their events. */
  ANN,
  /** Dataset routes. */
  DATASET,
  /** Administration: settings, detection classes; sees every user's uploads and jobs. */
  ADM
}
