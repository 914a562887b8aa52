package io.osprey.testing;

import io.osprey.inference.DetectionEngine;
import io.osprey.inference.InferenceException;
import io.osprey.inference.ModelRegistry;
import io.osprey.inference.NativeLibraries;
import io.osprey.inference.OrtRuntime;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real ONNX models of ../shared/models (or OSPREY_TEST_MODELS); when absent, tests skip with a message, or fail
 * with CI=true ({@link Assets}).
 */
public final class Models {
  private static ModelRegistry registry;

  private Models() {
  }

  public static Path dir() {
    String env = System.getenv("OSPREY_TEST_MODELS");
    return env != null && !env.isBlank() ? Path.of(env) : Path.of("..", "shared", "models");
  }

  public static Path sharedRoot() {
    return dir().toAbsolutePath().normalize().getParent();
  }

  public static void assumePresent() {
    Assets.require(Files.isDirectory(dir()) && Files.exists(dir().resolve("yolov8n_int8.onnx")),
        "test models not found at " + dir().toAbsolutePath() + " (set OSPREY_TEST_MODELS)");
  }

  /** One registry for the whole test JVM: models load once, as in the service. */
  public static synchronized ModelRegistry registry() {
    assumePresent();
    if (registry == null) {
      try {
        NativeLibraries.configure(Path.of("target", "native-cache").toAbsolutePath());
        registry = new ModelRegistry(new OrtRuntime(OrtRuntime.Device.CPU, 2, 1), dir(), "yolov8n_int8");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      } catch (InferenceException e) {
        throw new IllegalStateException(e);
      }
    }
    return registry;
  }

  public static DetectionEngine engine(String model) throws InferenceException {
    return new DetectionEngine(registry().get(model), 8, DetectionEngine.overlapPays(2));
  }
}
