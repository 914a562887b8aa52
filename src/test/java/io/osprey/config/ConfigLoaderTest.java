package io.osprey.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@UnitTest
class ConfigLoaderTest {
  @TempDir
  Path dir;

  @Test
  void defaultsAreTheSpecLimits() {
    Config c = ConfigLoader.load(Map.of());
    assertEquals(8080, c.integer("http.port"));
    assertEquals(100, c.integer("uploads.max_files"));
    assertEquals(50L * 1024 * 1024, c.longValue("uploads.max_file_bytes"));
    assertEquals(64, c.integer("uploads.min_dimension"));
    assertEquals(8192, c.integer("uploads.max_dimension"));
  }

  @Test
  void environmentVariablesOverrideEveryType() {
    Config c = ConfigLoader.load(Map.of(
        "OSPREY_HTTP_PORT", "9090",
        "OSPREY_STORAGE_ROOT", "/data/osprey",
        "OSPREY_UPLOADS_MAX_FILE_BYTES", "1000",
        "OSPREY_POSTGRES_CREATE_DATABASE", "false",
        "OSPREY_REDIS_PASSWORD", ""));
    assertEquals(9090, c.integer("http.port"));
    assertEquals(Path.of("/data/osprey"), c.path("storage.root"));
    assertEquals(1000L, c.longValue("uploads.max_file_bytes"));
    assertFalse(c.bool("postgres.create_database"));
    assertEquals("", c.string("redis.password"));
  }

  @Test
  void badValueNamesTheKeyAndTheVariableInOneLine() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Map.of("OSPREY_HTTP_PORT", "eighty")));
    assertTrue(e.getMessage().contains("http.port"), e.getMessage());
    assertTrue(e.getMessage().contains("OSPREY_HTTP_PORT"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"));

    ConfigException range = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Map.of("OSPREY_HTTP_PORT", "70000")));
    assertTrue(range.getMessage().contains("between 0 and 65535"), range.getMessage());

    ConfigException empty = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Map.of("OSPREY_POSTGRES_HOST", " ")));
    assertTrue(empty.getMessage().contains("postgres.host"), empty.getMessage());

    ConfigException bool = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Map.of("OSPREY_POSTGRES_CREATE_DATABASE", "maybe")));
    assertTrue(bool.getMessage().contains("true or false"), bool.getMessage());
  }

  @Test
  void passwordsAreNotEchoedInErrors() {
    JsonObject bad = new JsonObject().put("postgres", new JsonObject().put("password", 12345));
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(Map.of()).with(bad));
    assertFalse(e.getMessage().contains("12345"), e.getMessage());
  }

  @Test
  void minimumDimensionAboveMaximumIsRefused() {
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(Map.of(
        "OSPREY_UPLOADS_MIN_DIMENSION", "5000", "OSPREY_UPLOADS_MAX_DIMENSION", "4000")));
    assertTrue(e.getMessage().contains("uploads.min_dimension"));
  }

  @Test
  void configFileOverlaysDefaultsAndEnvironmentWins() throws Exception {
    Path file = dir.resolve("site.json");
    Files.writeString(file, "{\"http\":{\"port\":7000},\"redis\":{\"host\":\"cache.internal\"}}");
    Config c = ConfigLoader.load(Map.of("OSPREY_CONFIG", file.toString(), "OSPREY_HTTP_PORT", "7001"));
    assertEquals(7001, c.integer("http.port"));
    assertEquals("cache.internal", c.string("redis.host"));
  }

  @Test
  void unknownKeyInConfigFileIsRefused() throws Exception {
    Path file = dir.resolve("typo.json");
    Files.writeString(file, "{\"http\":{\"prot\":7000}}");
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Map.of("OSPREY_CONFIG", file.toString())));
    assertTrue(e.getMessage().contains("http.prot"), e.getMessage());
  }

  @Test
  void everyDefaultHasADeclaredKeyAndEveryKeyADefault() {
    Set<String> defaults = new HashSet<>();
    collect("", ConfigLoader.defaults(), defaults);
    Set<String> declared = new HashSet<>();
    ConfigKeys.all().forEach(k -> declared.add(k.name()));
    assertEquals(declared, defaults);
  }

  @Test
  void suiteWideJwksVariableSetsTheKeyAndOspreysOwnVariableWins() {
    assertEquals("http://idp/jwks", ConfigLoader.load(Map.of("JWT_JWKS_URL", "http://idp/jwks"))
        .string("auth.jwks_url"));
    assertEquals("http://mine/jwks", ConfigLoader.load(Map.of("JWT_JWKS_URL", "http://idp/jwks",
        "OSPREY_AUTH_JWKS_URL", "http://mine/jwks")).string("auth.jwks_url"));
    assertEquals("", ConfigLoader.load(Map.of()).string("auth.jwks_url"), "no identity service by default");
  }

  @Test
  void documentedTableIsExactlyWhatTheKeysGenerate() throws Exception {
    String doc = Files.readString(Path.of("docs", "configuration.md"));
    assertTrue(doc.contains(ConfigDoc.table()), "run scripts/config-doc.sh to regenerate docs/configuration.md");
  }

  @Test
  void everyKeyIsDocumentedWithItsVariableAndDefault() throws Exception {
    String doc = Files.readString(Path.of("docs", "configuration.md"));
    JsonObject defaults = ConfigLoader.defaults();
    List<String> missing = new ArrayList<>();
    for (ConfigKeys.Key key : ConfigKeys.all()) {
      Object value = ConfigLoader.lookup(defaults, key.name());
      String row = doc.lines().filter(l -> l.startsWith("| `" + key.name() + "` |")).findFirst().orElse("");
      if (!row.contains("`" + key.envVar() + "`") || !row.contains("`" + value + "`")) {
        missing.add(key.name());
      }
    }
    assertEquals(List.of(), missing, "keys missing or wrong in docs/configuration.md");
  }

  private static void collect(String prefix, JsonObject object, Set<String> out) {
    for (String field : object.fieldNames()) {
      Object v = object.getValue(field);
      String name = prefix.isEmpty() ? field : prefix + "." + field;
      if (v instanceof JsonObject nested) {
        collect(name, nested, out);
      } else {
        out.add(name);
      }
    }
  }
}
