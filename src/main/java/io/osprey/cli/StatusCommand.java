package io.osprey.cli;

import io.vertx.core.json.JsonObject;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "status", description = "Status and progress of a job.")
final class StatusCommand implements Callable<Integer> {
  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Parameters(paramLabel = "JOB_ID")
  String jobId;

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      JsonObject s = root.client().get("/api/v1/jobs/" + jobId + "/status").json();
      if (root.json) {
        root.print(s);
      } else {
        root.out().println(Detect.describe(s));
        root.out().flush();
      }
      return ApiClient.OK;
    });
  }
}
