package io.osprey.auth;

import io.vertx.core.Future;
import io.vertx.ext.auth.User;
import io.vertx.ext.auth.authorization.Authorization;
import io.vertx.ext.auth.authorization.AuthorizationProvider;
import io.vertx.ext.auth.authorization.PermissionBasedAuthorization;
import java.util.HashSet;
import java.util.Set;

/**
 * The authorizations of a verified token: one {@link PermissionBasedAuthorization} per permission its
 * {@code permissions} claim grants, read by {@link TokenVerifier#permissions}. vertx-auth-jwt's own
 * {@code JWTAuthorization} is not used because it reads only an array and refuses the whole claim for one
 * non-string entry, where the identity service may also send one string ("ANN DATASET", "ANN,ADM") and other
 * services' entries are simply not ours.
 */
final class PermissionsClaim implements AuthorizationProvider {
  static final String ID = "osprey-permissions";

  @Override
  public String getId() {
    return ID;
  }

  @Override
  public Future<Void> getAuthorizations(User user) {
    Set<Authorization> granted = new HashSet<>();
    for (Permission p : TokenVerifier.permissions(TokenVerifier.claims(user))) {
      granted.add(PermissionBasedAuthorization.create(p.name()));
    }
    user.authorizations().put(ID, granted);
    return Future.succeededFuture();
  }
}
