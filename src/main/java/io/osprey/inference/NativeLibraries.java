package io.osprey.inference;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Points JavaCPP (OpenCV, OpenBLAS) and ONNX Runtime at one cache folder, so their ~120 MB of native libraries are
 * unpacked once and reused instead of being extracted into a temp or home folder on every start. Must run before
 * either library is first touched.
 */
public final class NativeLibraries {
  private static final Logger LOG = LoggerFactory.getLogger(NativeLibraries.class);
  private static final String ORT_RESOURCE_DIR = "ai/onnxruntime/native/linux-x64/";
  private static final String[] ORT_LIBRARIES = {
      "libonnxruntime.so", "libonnxruntime4j_jni.so",
      "libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"};

  private NativeLibraries() {
  }

  public static synchronized void configure(Path cacheDir) throws IOException {
    Path javacpp = cacheDir.resolve("javacpp");
    Files.createDirectories(javacpp);
    if (System.getProperty("org.bytedeco.javacpp.cachedir") == null) {
      System.setProperty("org.bytedeco.javacpp.cachedir", javacpp.toString());
    }
    if (System.getProperty("onnxruntime.native.path") == null) {
      Path ort = cacheDir.resolve("onnxruntime");
      Files.createDirectories(ort);
      int present = 0;
      for (String name : ORT_LIBRARIES) {
        if (unpack(ORT_RESOURCE_DIR + name, ort.resolve(name))) {
          present++;
        }
      }
      if (present > 0) {
        System.setProperty("onnxruntime.native.path", ort.toString());
      }
    }
    LOG.debug("native libraries cached under {}", cacheDir);
  }

  /** Copies a packaged library unless an identical-size copy is already there; false when not packaged. */
  private static boolean unpack(String resource, Path target) throws IOException {
    var url = NativeLibraries.class.getClassLoader().getResource(resource);
    if (url == null) {
      return false;
    }
    long size = url.openConnection().getContentLengthLong();
    if (Files.exists(target) && size >= 0 && Files.size(target) == size) {
      return true;
    }
    Path partial = target.resolveSibling(target.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
    try (InputStream in = url.openStream()) {
      Files.copy(in, partial, StandardCopyOption.REPLACE_EXISTING);
    }
    Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    LOG.info("unpacked {} to {}", resource, target);
    return true;
  }
}
