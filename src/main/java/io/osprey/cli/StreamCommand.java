package io.osprey.cli;

import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "stream", description = "The RabbitMQ annotation stream (reads the service's configuration:"
    + " OSPREY_* variables).", subcommands = StreamCommand.Tail.class)
final class StreamCommand {
  @Command(name = "tail", description = "Print stream messages decoded; options as io.osprey.outbox.StreamTail"
      + " (--from first|last|next|OFFSET, --limit N, --idle-seconds S, --with-images).")
  static final class Tail implements Callable<Integer> {
    @Parameters(arity = "0..*", paramLabel = "OPTIONS")
    List<String> options;

    @Override
    public Integer call() throws Exception {
      io.osprey.outbox.StreamTail.main(options == null ? new String[0] : options.toArray(String[]::new));
      return ApiClient.OK;
    }
  }
}
