package io.osprey.cli;

import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "jobs", description = {"List your detection jobs, newest first.",
    "Needs a token (login, --token or OSPREY_TOKEN): the service lists only the jobs of a token's subject."
        + " Without one, status/results/cancel still work with the job id that detect printed."})
final class JobsCommand implements Callable<Integer> {
  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Option(names = "--status", description = "queued, processing, completed, failed or cancelled.")
  String status;

  @Option(names = "--page", defaultValue = "1")
  int page;

  @Option(names = "--page-size", defaultValue = "20")
  int pageSize;

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      ApiClient client = root.client();
      JsonObject r;
      try {
        r = client.get("/api/v1/jobs?page=" + page + "&page_size=" + pageSize
            + (status == null ? "" : "&status=" + status)).json();
      } catch (ApiClient.Failure f) {
        if (f.exit() == ApiClient.AUTH && !client.hasToken()) {
          throw new ApiClient.Failure(ApiClient.AUTH, f.code(), "listing jobs needs a token: run `osprey login"
              + " --token T` or set OSPREY_TOKEN (jobs are listed per token subject; a job id from `osprey detect`"
              + " works without one in status, results and cancel). " + f.getMessage());
        }
        throw f;
      }
      if (root.json) {
        root.print(r);
        return ApiClient.OK;
      }
      List<String[]> rows = new ArrayList<>();
      for (Object o : OspreyCli.array(r, "jobs")) {
        JsonObject j = (JsonObject) o;
        rows.add(new String[] {j.getString("job_id"), j.getString("status"), OspreyCli.str(j.getValue("created_at")),
            OspreyCli.str(j.getValue("total_images"))});
      }
      root.table(new String[] {"JOB", "STATUS", "CREATED", "IMAGES"}, rows);
      root.out().println(r.getValue("total") + " job(s)");
      root.out().flush();
      return ApiClient.OK;
    });
  }
}
