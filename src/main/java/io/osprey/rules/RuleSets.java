package io.osprey.rules;

import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.projog.api.Projog;
import org.projog.core.ProjogException;
import org.projog.core.parser.ParserException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The rule sets of a folder ({@code rules.dir}): {@code NAME.pl} is rule set NAME. A file is validated (parsed into a
 * fresh interpreter after the library) when first used and again whenever its modification time or size changes,
 * so editing a rule file takes effect on the next image without a restart, and a broken edit is reported with its
 * file and line instead of being half-applied.
 */
public final class RuleSets {
  private static final Logger LOG = LoggerFactory.getLogger(RuleSets.class);
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  static final String LIBRARY = "rules/osprey.pl";

  private final Path directory;
  private final Map<String, Version> loaded = new ConcurrentHashMap<>();

  /** One validated state of a rule file; {@code stamp} changes when the file does. */
  public record Version(String name, Path file, String source, String stamp) {
  }

  public RuleSets(Path directory) {
    this.directory = directory.toAbsolutePath().normalize();
  }

  public Path directory() {
    return directory;
  }

  public List<String> available() {
    if (!Files.isDirectory(directory)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(directory)) {
      return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".pl"))
          .map(n -> n.substring(0, n.length() - 3)).filter(n -> NAME.matcher(n).matches()).sorted().toList();
    } catch (IOException e) {
      return List.of();
    }
  }

  /** A rule set as clients list it: its name and the first paragraph of the file's leading comment. */
  public record Summary(String name, String description) {
  }

  /**
   * Every rule set of the folder with its description (blocking: reads the files' first lines; call it off the
   * event loop). The description is the first paragraph of the leading {@code %} comment, the convention of the
   * shipped rule sets ("% Vehicles lined up in a row gain confidence."); empty when a file has none. Files are not
   * validated here; a rule set that does not parse is refused when a job uses it.
   */
  public List<Summary> summaries() {
    return available().stream().map(name -> new Summary(name, description(directory.resolve(name + ".pl"))))
        .toList();
  }

  static String description(Path file) {
    StringBuilder text = new StringBuilder();
    try (java.io.BufferedReader in = Files.newBufferedReader(file, java.nio.charset.StandardCharsets.UTF_8)) {
      String line;
      while ((line = in.readLine()) != null) {
        String t = line.strip();
        if (t.isEmpty() && text.length() == 0) {
          continue; // blank lines before the comment
        }
        if (!t.startsWith("%")) {
          break;
        }
        String words = t.replaceFirst("^%+", "").strip();
        if (words.isEmpty()) {
          if (text.length() > 0) {
            break; // end of the first paragraph
          }
          continue;
        }
        if (text.length() > 0) {
          text.append(' ');
        }
        text.append(words);
        if (text.length() > 500) {
          break;
        }
      }
    } catch (IOException | java.io.UncheckedIOException e) {
      return ""; // unreadable now: the name is still listed, as predict would still find the file
    }
    return text.length() > 500 ? text.substring(0, 499) + "…" : text.toString();
  }

  public boolean exists(String name) {
    return name != null && NAME.matcher(name).matches() && Files.isRegularFile(directory.resolve(name + ".pl"));
  }

  /** The current, validated version of a rule set. */
  public Version current(String name) throws RulesException {
    if (!exists(name)) {
      throw new RulesException("no rule set '" + name + "' in " + directory + " (available: " + available() + ")");
    }
    Path file = directory.resolve(name + ".pl");
    String stamp;
    try {
      stamp = Files.getLastModifiedTime(file).toMillis() + ":" + Files.size(file);
    } catch (IOException e) {
      throw new RulesException("rules file " + file + " cannot be read: " + e.getMessage(), e);
    }
    Version known = loaded.get(name);
    if (known != null && known.stamp().equals(stamp)) {
      return known;
    }
    synchronized (this) {
      known = loaded.get(name);
      if (known != null && known.stamp().equals(stamp)) {
        return known;
      }
      String source;
      try {
        source = Files.readString(file);
      } catch (IOException e) {
        throw new RulesException("rules file " + file + " cannot be read: " + e.getMessage(), e);
      }
      Version version = new Version(name, file, source, stamp);
      interpreter(version); // validation: throws with file and line when it does not parse
      loaded.put(name, version);
      LOG.info("rule set {} {} from {}", name, known == null ? "loaded" : "reloaded", file);
      return version;
    }
  }

  /** A fresh interpreter holding the library and this rule set. */
  static Projog interpreter(Version version, org.projog.core.event.ProjogListener... listeners) throws RulesException {
    Projog projog = new Projog(listeners);
    projog.consultResource(LIBRARY);
    try {
      projog.consultReader(new StringReader(version.source()));
    } catch (ProjogException e) {
      throw new RulesException(describe(version.file(), e), e);
    }
    return projog;
  }

  /** "file:line: message" for parse errors, else the file and Projog's message. */
  static String describe(Path file, Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof ParserException pe) {
        return "rules file " + file + " line " + pe.getLineNumber() + ": " + firstLine(pe.getMessage());
      }
    }
    return "rules file " + file + ": " + firstLine(e.getMessage());
  }

  private static String firstLine(String message) {
    if (message == null) {
      return "error";
    }
    int nl = message.indexOf('\n');
    return nl < 0 ? message : message.substring(0, nl);
  }
}
