package io.osprey.config;

/**
 * Prints the key table of docs/configuration.md from {@link ConfigKeys} and the packaged defaults
 * ({@code scripts/config-doc.sh} splices it into the page; ConfigLoaderTest checks the page against the keys).
 */
public final class ConfigDoc {
  private ConfigDoc() {
  }

  public static String table() {
    var defaults = ConfigLoader.defaults();
    StringBuilder sb = new StringBuilder("| Key | Environment variable | Default | Meaning |\n|---|---|---|---|\n");
    for (ConfigKeys.Key key : ConfigKeys.all()) {
      Object value = ConfigLoader.lookup(defaults, key.name());
      String alias = ConfigKeys.alias(key.name());
      sb.append("| `").append(key.name()).append("` | `").append(key.envVar()).append('`')
          .append(alias == null ? "" : " (or `" + alias + "`)")
          .append(" | `").append(value == null ? "" : value).append("` | ")
          .append(key.meaning().replace("|", "\\|")).append(" |\n");
    }
    return sb.toString();
  }

  public static void main(String[] args) {
    System.out.print(table());
  }
}
