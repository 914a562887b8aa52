package io.osprey.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "results", description = "Results of a completed job: json (printed), yolo (zip) or coco.")
final class ResultsCommand implements Callable<Integer> {
  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Parameters(paramLabel = "JOB_ID")
  String jobId;

  @Option(names = "--format", defaultValue = "json", description = "json, yolo or coco.")
  String format;

  @Option(names = {"-o", "--out"}, description = "Write to this file instead of printing (needed for yolo).")
  Path out;

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      byte[] body = root.client().get("/api/v1/jobs/" + jobId + "/results?format=" + format).body();
      if (out != null) {
        if (out.getParent() != null) {
          Files.createDirectories(out.getParent());
        }
        Files.write(out, body);
        spec.commandLine().getErr().println(body.length + " bytes written to " + out);
      } else if (format.equals("yolo")) {
        spec.commandLine().getErr().println("osprey: yolo results are a zip; give --out FILE");
        return ApiClient.USAGE;
      } else {
        root.out().println(new String(body, java.nio.charset.StandardCharsets.UTF_8));
        root.out().flush();
      }
      return ApiClient.OK;
    });
  }
}
