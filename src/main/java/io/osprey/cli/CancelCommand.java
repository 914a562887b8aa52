package io.osprey.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "cancel", description = "Cancel a queued or running job.")
final class CancelCommand implements Callable<Integer> {
  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Parameters(paramLabel = "JOB_ID")
  String jobId;

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      var r = root.client().json("POST", "/api/v1/jobs/" + jobId + "/cancel", null);
      if (root.json) {
        root.print(r.json());
      } else {
        root.out().println("job " + jobId + ": cancellation requested");
        root.out().flush();
      }
      return ApiClient.OK;
    });
  }
}
