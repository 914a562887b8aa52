package io.osprey.uploads;

import io.vertx.ext.auth.User;
import io.vertx.ext.web.RoutingContext;

/** Who owns an upload: the authenticated subject, or {@code anonymous} while no authentication is configured. */
final class UploadUser {
  static final String ANONYMOUS = "anonymous";

  private UploadUser() {
  }

  static String of(RoutingContext ctx) {
    User user = ctx.user();
    if (user == null) {
      return ANONYMOUS;
    }
    String subject = user.subject();
    return subject == null || subject.isBlank() ? ANONYMOUS : subject;
  }
}
