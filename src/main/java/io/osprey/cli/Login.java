package io.osprey.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "login", description = "Store a token for later commands (the token file, mode 600) and check it.")
final class Login implements Callable<Integer> {
  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Option(names = "--token", description = "The token to store (as issued by the identity service).")
  String token;

  @Option(names = "--dev", description = "Use the developer token scripts/run.sh wrote (var/dev-auth/token).")
  boolean dev;

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      String t = token;
      if (dev) {
        t = Files.readString(Path.of("var", "dev-auth", "token")).strip();
      }
      if (t == null || t.isBlank()) {
        spec.commandLine().getErr().println("osprey: give --token TOKEN or --dev");
        return ApiClient.USAGE;
      }
      // Check it against a route that needs a token before keeping it.
      new ApiClient(root.url, t).get("/annotations?pageSize=1");
      Path file = root.tokenFile;
      Files.createDirectories(file.getParent());
      Files.writeString(file, t + "\n");
      try {
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
      } catch (UnsupportedOperationException ignored) {
        // not a POSIX file system
      }
      root.out().println("token stored in " + file);
      root.out().flush();
      return ApiClient.OK;
    });
  }
}
