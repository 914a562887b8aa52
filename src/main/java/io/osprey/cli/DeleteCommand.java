package io.osprey.cli;

import io.vertx.core.json.JsonObject;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "delete", description = "Delete a job (cancelled first if it runs) with its results and"
    + " visualizations, or with --upload an upload and its files.")
final class DeleteCommand implements Callable<Integer> {
  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Option(names = "--upload", description = "The id is an upload id: delete the upload (refused while a queued or"
      + " processing job uses it).")
  boolean upload;

  @Parameters(paramLabel = "ID", description = "The job id (or upload id with --upload).")
  String id;

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      String path = upload ? "/api/v1/inference/uploads/" + id : "/api/v1/jobs/" + id;
      root.client().json("DELETE", path, null);
      String what = (upload ? "upload " : "job ") + id;
      if (root.json) {
        root.print(new JsonObject().put(upload ? "upload_id" : "job_id", id).put("deleted", true));
      } else {
        root.out().println(what + ": deleted");
        root.out().flush();
      }
      return ApiClient.OK;
    });
  }
}
