package io.osprey.storage;

import java.util.UUID;

/** The ids Osprey gives rows and folders: UUIDs, written in their canonical lower-case form. */
public final class Ids {
  private Ids() {
  }

  /** A UUID in either letter case: what the routes accept from clients (PostgreSQL compares uuids by value). */
  public static boolean isUuid(String s) {
    try {
      return s != null && UUID.fromString(s).toString().equalsIgnoreCase(s);
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /** Exactly the canonical lower-case form: what the service itself wrote (stored ids, folder names). */
  public static boolean isCanonicalUuid(String s) {
    try {
      return s != null && UUID.fromString(s).toString().equals(s);
    } catch (IllegalArgumentException e) {
      return false;
    }
  }
}
