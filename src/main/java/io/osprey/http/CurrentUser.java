package io.osprey.http;

import io.vertx.ext.auth.User;
import io.vertx.ext.web.RoutingContext;

/** Who is calling: the authenticated subject, or {@code anonymous} while no authentication is configured. */
public final class CurrentUser {
  public static final String ANONYMOUS = "anonymous";

  private CurrentUser() {
  }

  public static String of(RoutingContext ctx) {
    User user = ctx.user();
    if (user == null) {
      return ANONYMOUS;
    }
    String subject = user.subject();
    return subject == null || subject.isBlank() ? ANONYMOUS : subject;
  }
}
