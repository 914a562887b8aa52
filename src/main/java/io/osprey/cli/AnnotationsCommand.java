package io.osprey.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "annotations", description = "List, read, create annotations and change their status.",
    subcommands = {AnnotationsCommand.ListCmd.class, AnnotationsCommand.GetCmd.class,
        AnnotationsCommand.CreateCmd.class, AnnotationsCommand.StatusCmd.class})
final class AnnotationsCommand {
  @ParentCommand
  OspreyCli root;

  @Command(name = "list", description = "GET /annotations with filters, one page.")
  static final class ListCmd implements Callable<Integer> {
    @ParentCommand
    AnnotationsCommand parent;
    @Spec
    CommandLine.Model.CommandSpec spec;
    @Option(names = "--flight") String flight;
    @Option(names = "--waypoint") String waypoint;
    @Option(names = "--media") String media;
    @Option(names = "--status") String status;
    @Option(names = "--class") Integer classNum;
    @Option(names = "--from", description = "ISO-8601 time.") String from;
    @Option(names = "--to", description = "ISO-8601 time.") String to;
    @Option(names = "--page", defaultValue = "1") int page;
    @Option(names = "--page-size", defaultValue = "20") int pageSize;

    @Override
    public Integer call() {
      OspreyCli root = parent.root;
      return OspreyCli.run(spec, () -> {
        StringBuilder q = new StringBuilder("/annotations?page=" + page + "&pageSize=" + pageSize);
        add(q, "flightId", flight);
        add(q, "waypointId", waypoint);
        add(q, "mediaId", media);
        add(q, "status", status);
        add(q, "classNum", classNum == null ? null : classNum.toString());
        add(q, "from", from);
        add(q, "to", to);
        JsonObject r = root.client().get(q.toString()).json();
        if (root.json) {
          root.print(r);
          return ApiClient.OK;
        }
        List<String[]> rows = new ArrayList<>();
        for (Object o : OspreyCli.array(r, "items")) {
          JsonObject a = (JsonObject) o;
          rows.add(new String[] {a.getString("id"), a.getString("status"), OspreyCli.str(a.getValue("flightId")),
              String.valueOf(a.getJsonArray("detections", new JsonArray()).size()), a.getString("createdAt")});
        }
        root.table(new String[] {"ID", "STATUS", "FLIGHT", "DETECTIONS", "CREATED"}, rows);
        root.out().println("page " + r.getValue("page") + " of " + r.getValue("totalPages") + ", "
            + r.getValue("totalCount") + " annotation(s)");
        root.out().flush();
        return ApiClient.OK;
      });
    }

    private static void add(StringBuilder q, String name, String value) {
      if (value != null) {
        q.append('&').append(name).append('=').append(URLEncoder.encode(value, StandardCharsets.UTF_8));
      }
    }
  }

  @Command(name = "get", description = "One annotation.")
  static final class GetCmd implements Callable<Integer> {
    @ParentCommand
    AnnotationsCommand parent;
    @Spec
    CommandLine.Model.CommandSpec spec;
    @Parameters(paramLabel = "ID") String id;

    @Override
    public Integer call() {
      return OspreyCli.run(spec, () -> {
        parent.root.print(parent.root.client().get("/annotations/" + id).json());
        return ApiClient.OK;
      });
    }
  }

  @Command(name = "create", description = "Create an annotation of an image (multipart upload, no base64).")
  static final class CreateCmd implements Callable<Integer> {
    @ParentCommand
    AnnotationsCommand parent;
    @Spec
    CommandLine.Model.CommandSpec spec;
    @Parameters(paramLabel = "IMAGE") Path image;
    @Option(names = "--detections", defaultValue = "[]",
        description = "JSON array of {classNum, label, centerX, centerY, width, height, confidence}.")
    String detections;
    @Option(names = "--flight") String flight;
    @Option(names = "--waypoint") String waypoint;
    @Option(names = "--source", defaultValue = "Manual") String source;
    @Option(names = "--name") String name;

    @Override
    public Integer call() {
      OspreyCli root = parent.root;
      return OspreyCli.run(spec, () -> {
        JsonArray d;
        try {
          d = new JsonArray(detections);
        } catch (RuntimeException e) {
          spec.commandLine().getErr().println("osprey: --detections is not a JSON array");
          return ApiClient.USAGE;
        }
        JsonObject meta = new JsonObject().put("flightId", flight).put("waypointId", waypoint).put("source", source)
            .put("name", name).put("detections", d);
        JsonObject a = root.client().multipart("/annotations", "image", List.of(image),
            List.<String[]>of(new String[] {"annotation", meta.encode()})).json();
        if (root.json) {
          root.print(a);
        } else {
          root.out().println("annotation " + a.getString("id") + " created (" + a.getJsonArray("detections").size()
              + " detection(s))");
          root.out().flush();
        }
        return ApiClient.OK;
      });
    }
  }

  @Command(name = "status", description = "Set the status of annotations (one id: PATCH; several: bulk).")
  static final class StatusCmd implements Callable<Integer> {
    @ParentCommand
    AnnotationsCommand parent;
    @Spec
    CommandLine.Model.CommandSpec spec;
    @Parameters(index = "0", paramLabel = "STATUS", description = "Created, Edited, Validated, Deleted (or 10..40).")
    String status;
    @Parameters(index = "1..*", arity = "1..*", paramLabel = "ID") List<String> ids;

    @Override
    public Integer call() {
      OspreyCli root = parent.root;
      return OspreyCli.run(spec, () -> {
        JsonObject r = ids.size() == 1
            ? root.client().json("PATCH", "/dataset/" + ids.get(0) + "/status",
                new JsonObject().put("status", status)).json()
            : root.client().json("POST", "/dataset/bulk-status", new JsonObject()
                .put("annotationIds", new JsonArray(new ArrayList<>(ids))).put("status", status)).json();
        root.print(r);
        return ApiClient.OK;
      });
    }
  }
}
