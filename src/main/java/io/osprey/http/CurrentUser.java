package io.osprey.http;

import io.vertx.ext.web.RoutingContext;

/**
 * Who is calling: the verified token's subject, or {@code anonymous} on routes that allow callers without a token.
 * The route guard records the caller here so capability code needs no knowledge of tokens.
 */
public final class CurrentUser {
  public static final String ANONYMOUS = "anonymous";
  private static final String SUBJECT = "osprey.subject";
  private static final String ADMIN = "osprey.admin";

  private CurrentUser() {
  }

  public static void set(RoutingContext ctx, String subject, boolean admin) {
    ctx.put(SUBJECT, subject);
    ctx.put(ADMIN, admin);
  }

  public static String of(RoutingContext ctx) {
    String subject = ctx.get(SUBJECT);
    return subject == null || subject.isBlank() ? ANONYMOUS : subject;
  }

  /** Whether the caller sent no token (token subjects are never {@code anonymous}: the verifier refuses it). */
  public static boolean isAnonymous(RoutingContext ctx) {
    return of(ctx).equals(ANONYMOUS);
  }

  /** Holders of ADM see every user's uploads and jobs. */
  public static boolean isAdmin(RoutingContext ctx) {
    return Boolean.TRUE.equals(ctx.get(ADMIN));
  }

  /** Whether the caller may see something owned by {@code owner}. */
  public static boolean mayAccess(RoutingContext ctx, String owner) {
    return owner != null && (isAdmin(ctx) || owner.equals(of(ctx)));
  }
}
