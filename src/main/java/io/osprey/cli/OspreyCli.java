package io.osprey.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code osprey}: the command-line client of a running Osprey, over HTTP only.
 * Exit codes: 0 ok, 2 usage, 3 not found, 4 request rejected, 5 not authenticated or not allowed, 6 server error,
 * 7 service unreachable, 8 a job failed or was cancelled.
 */
@Command(name = "osprey", mixinStandardHelpOptions = true, scope = CommandLine.ScopeType.INHERIT, version = "osprey 0.1.0",
    description = "Command-line client of an Osprey service.",
    subcommands = {Login.class, Detect.class, JobsCommand.class, StatusCommand.class, CancelCommand.class, DeleteCommand.class,
        ResultsCommand.class, AnnotationsCommand.class, ExportCommand.class, EventsCommand.class, StreamCommand.class,
        Load.class, EvalCommand.class},
    footer = {"", "Exit codes: 0 ok, 2 usage, 3 not found, 4 rejected, 5 auth, 6 server error, 7 unreachable,"
        + " 8 job failed."})
public final class OspreyCli {
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Option(names = "--url", description = "Service URL (env OSPREY_URL; default ${DEFAULT-VALUE}).",
      defaultValue = "${env:OSPREY_URL:-http://127.0.0.1:8080}")
  String url;

  @Option(names = "--token", description = "Bearer token (env OSPREY_TOKEN; else the token file).",
      defaultValue = "${env:OSPREY_TOKEN}")
  String token;

  @Option(names = "--token-file", description = "Where `osprey login` keeps the token (default ${DEFAULT-VALUE}).",
      defaultValue = "${env:OSPREY_TOKEN_FILE:-${sys:user.home}/.config/osprey/token}")
  Path tokenFile;

  @Option(names = "--json", description = "Print JSON (for scripts) instead of tables.")
  boolean json;

  ApiClient client() {
    String t = token;
    if ((t == null || t.isBlank()) && tokenFile != null && Files.isRegularFile(tokenFile)) {
      try {
        t = Files.readString(tokenFile).strip();
      } catch (IOException e) {
        throw new ApiClient.Failure(ApiClient.USAGE, null, "cannot read " + tokenFile + ": " + e.getMessage());
      }
    }
    return new ApiClient(url, t);
  }

  PrintWriter out() {
    return spec.commandLine().getOut();
  }

  /** Prints a JSON document, pretty unless it is a stream of lines. */
  void print(JsonObject o) {
    out().println(json ? o.encode() : o.encodePrettily());
    out().flush();
  }

  /** A plain table: header then rows, columns padded. */
  void table(String[] header, java.util.List<String[]> rows) {
    int[] widths = new int[header.length];
    for (int i = 0; i < header.length; i++) {
      widths[i] = header[i].length();
    }
    for (String[] r : rows) {
      for (int i = 0; i < r.length; i++) {
        widths[i] = Math.max(widths[i], r[i] == null ? 4 : r[i].length());
      }
    }
    StringBuilder fmt = new StringBuilder();
    for (int w : widths) {
      fmt.append("%-").append(w).append("s  ");
    }
    out().println(String.format(fmt.toString().stripTrailing(), (Object[]) header));
    for (String[] r : rows) {
      out().println(String.format(fmt.toString().stripTrailing(), (Object[]) r));
    }
    out().flush();
  }

  static String str(Object o) {
    return o == null ? "-" : String.valueOf(o);
  }

  /** Runs a command body, turning failures into their exit codes with one line on stderr. */
  static int run(CommandLine.Model.CommandSpec spec, Callable<Integer> body) {
    try {
      return body.call();
    } catch (ApiClient.Failure f) {
      spec.commandLine().getErr().println("osprey: " + f.getMessage());
      return f.exit();
    } catch (IOException e) {
      spec.commandLine().getErr().println("osprey: " + e.getMessage());
      return ApiClient.USAGE;
    } catch (Exception e) {
      spec.commandLine().getErr().println("osprey: " + e);
      return ApiClient.SERVER;
    }
  }

  public static CommandLine commandLine() {
    return new CommandLine(new OspreyCli()).setCaseInsensitiveEnumValuesAllowed(true);
  }

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  static JsonArray array(JsonObject o, String key) {
    JsonArray a = o.getJsonArray(key);
    return a == null ? new JsonArray() : a;
  }
}
