package io.osprey.inference;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What a client needs to choose a model: its layout, input size and class names, as the engine would see them when
 * it loads the model, or why it could not use the file ({@code error}, the other fields then null). The device is
 * not the file's: see {@link ModelRegistry#describe}.
 */
public record ModelDescription(String name, String layout, Integer inputWidth, Integer inputHeight,
                               List<String> classes, long sizeBytes, String error, String device) {

  /** The same description, with the device this process runs (or would run) the model on; null: none here. */
  ModelDescription on(String device) {
    return new ModelDescription(name, layout, inputWidth, inputHeight, classes, sizeBytes, error, device);
  }

  /** From a model this process has loaded. */
  static ModelDescription of(OnnxModel model, long sizeBytes) {
    return new ModelDescription(model.name(), model.layout().name().toLowerCase(Locale.ROOT), model.inputWidth(),
        model.inputHeight(), model.classNames(), sizeBytes, null, null);
  }

  /**
   * From the file's header alone, with the same rules as loading (one NCHW image input, the output named "output"
   * or else the first, the layout from the output's shape, class names from metadata or a names file).
   */
  static ModelDescription read(String name, Path file) {
    long size = -1;
    try {
      size = Files.size(file);
      OnnxHeader header = OnnxHeader.read(file);
      if (header.inputs.size() != 1) {
        return failed(name, size, "expected one image input, found "
            + header.inputs.stream().map(OnnxHeader.Value::name).toList());
      }
      long[] in = header.inputs.get(0).shape();
      if (in.length != 4 || (in[1] != 3 && in[1] != -1)) {
        return failed(name, size, "input " + header.inputs.get(0).name() + " is not an NCHW image tensor: "
            + Arrays.toString(in));
      }
      int[] wh = OnnxModel.inputSize(in, header.metadata);
      if (header.outputs.isEmpty()) {
        return failed(name, size, "the graph has no output");
      }
      OnnxHeader.Value out = header.outputs.stream().filter(v -> v.name().equals("output")).findFirst()
          .orElse(header.outputs.get(0));
      if (out.shape().length != 3) {
        return failed(name, size, "output " + out.name() + " has shape " + Arrays.toString(out.shape())
            + "; expected a detection tensor [batch, a, b]");
      }
      int rows = (int) out.shape()[1];
      int cols = (int) out.shape()[2];
      ModelLayout layout = OnnxModel.layout(file, rows, cols, wh[0], wh[1], header.metadata);
      int classes = switch (layout) {
        case YOLOV8 -> rows - 4;
        case YOLOV5, YOLOX -> cols - 5;
        case END2END -> -1;
      };
      return new ModelDescription(name, layout.name().toLowerCase(Locale.ROOT), wh[0], wh[1],
          OnnxModel.classNames(file, header.metadata, classes), size, null, null);
    } catch (IOException e) {
      return failed(name, size, "cannot be read as an ONNX model: " + e.getMessage());
    } catch (InferenceException e) {
      // The engine's messages name the file by its full path; a client needs only its name.
      return failed(name, size, String.valueOf(e.getMessage()).replace(file.toString(),
          String.valueOf(file.getFileName())));
    }
  }

  private static ModelDescription failed(String name, long size, String reason) {
    return new ModelDescription(name, null, null, null, null, Math.max(size, 0), reason, null);
  }
}
