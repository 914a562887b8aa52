package io.osprey.cli;

import io.vertx.core.json.JsonObject;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "events", description = "Tail live annotation events (one JSON line each).")
final class EventsCommand implements Callable<Integer> {
  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;
  @Option(names = "--flight") String flight;
  @Option(names = "--waypoint") String waypoint;
  @Option(names = "--status") String status;
  @Option(names = "--class") Integer classNum;
  @Option(names = "--limit", description = "Stop after this many events.") Long limit;

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      StringBuilder q = new StringBuilder("/annotations/events?");
      if (flight != null) {
        q.append("flightId=").append(flight).append('&');
      }
      if (waypoint != null) {
        q.append("waypointId=").append(waypoint).append('&');
      }
      if (status != null) {
        q.append("status=").append(status).append('&');
      }
      if (classNum != null) {
        q.append("classNum=").append(classNum).append('&');
      }
      AtomicLong seen = new AtomicLong();
      // One line per frame: {"event": its type (annotation, reset, disconnect, auth), "data": its JSON}.
      root.client().events(q.toString(), (type, data) -> {
        JsonObject line = new JsonObject().put("event", type).put("data", new JsonObject(data));
        root.out().println(line.encode());
        root.out().flush();
        return limit == null || seen.incrementAndGet() < limit;
      });
      return ApiClient.OK;
    });
  }
}
