package io.osprey.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a copy of a shared model that takes a batch of images, so the engine batches tiles on it. Every shared model
 * is exported with batch 1, twice over: in the declared shapes, and in the constant target shapes of its Reshape nodes
 * (YOLOX flattens its heads with {@code [1, 85, -1]}, which folds a batch into the anchors). The weights and the
 * nodes are untouched; at the protobuf wire level (no ONNX library here):
 * <ul>
 * <li>every Reshape target shape held as an initializer or a Constant node and starting with 1 starts with 0 instead
 *     (ONNX: "copy this dimension from the input"), edited in place (same byte length);</li>
 * <li>ModelProto.graph(7) -> GraphProto.input(11)/output(12) -> ValueInfoProto.type(2) -> TypeProto.tensor_type(1) ->
 *     shape(2) -> first dim(1): Dimension.dim_value(1) becomes Dimension.dim_param(2) "batch";</li>
 * <li>GraphProto.value_info(13), optional shape hints of inner tensors that still say batch 1, is left out.</li>
 * </ul>
 */
public final class DynamicBatch {
  private DynamicBatch() {
  }

  /** Writes {@code <name>_dynbatch.onnx} (and the COCO names beside it) into {@code dir}; returns the model name. */
  public static String write(String model, Path dir) throws IOException {
    byte[] original = Files.readAllBytes(Models.dir().resolve(model + ".onnx"));
    int reshapes = batchedReshapes(original);
    if (reshapes == 0) {
      throw new IOException(model + ": no constant Reshape target starting with 1 found");
    }
    String name = model + "_dynbatch";
    Files.write(dir.resolve(name + ".onnx"), rewrite(original, 0));
    Files.copy(Models.dir().resolve("coco80.names"), dir.resolve(name + ".names"));
    return name;
  }

  /**
   * Copies a message, descending into the length-delimited fields of the path: level 0 is the model (field 7, the
   * graph), level 1 the graph (inputs 11 and outputs 12), then type 2, tensor_type 1, shape 2, and the first dim 1,
   * which is replaced.
   */
  private static byte[] rewrite(byte[] message, int level) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream(message.length + 16);
    int[] pos = {0};
    boolean firstDimDone = false;
    while (pos[0] < message.length) {
      int tagStart = pos[0];
      long tag = varint(message, pos);
      int field = (int) (tag >>> 3);
      int wire = (int) (tag & 7);
      switch (wire) {
        case 0 -> {
          varint(message, pos);
          out.write(message, tagStart, pos[0] - tagStart);
        }
        case 1 -> {
          pos[0] += 8;
          out.write(message, tagStart, pos[0] - tagStart);
        }
        case 5 -> {
          pos[0] += 4;
          out.write(message, tagStart, pos[0] - tagStart);
        }
        case 2 -> {
          int len = (int) varint(message, pos);
          byte[] body = java.util.Arrays.copyOfRange(message, pos[0], pos[0] + len);
          pos[0] += len;
          if (level == 1 && field == 13) {
            continue; // GraphProto.value_info: optional shape hints, still saying batch 1
          }
          byte[] replaced = null;
          boolean descend = switch (level) {
            case 0 -> field == 7;
            case 1 -> field == 11 || field == 12;
            case 2 -> field == 2;
            case 3 -> field == 1;
            case 4 -> field == 2;
            case 5 -> field == 1 && !firstDimDone;
            default -> false;
          };
          if (descend && level == 5) {
            firstDimDone = true;
            replaced = symbolicDim();
          } else if (descend) {
            replaced = rewrite(body, level + 1);
          }
          writeVarint(out, tag);
          byte[] content = replaced == null ? body : replaced;
          writeVarint(out, content.length);
          out.write(content);
        }
        default -> throw new IOException("unsupported protobuf wire type " + wire + " at " + tagStart);
      }
    }
    return out.toByteArray();
  }

  /** One field of a message: its number, wire type, and where its value lies (varint value for wire type 0). */
  private record Field(int number, int wire, int start, int end, long value) {
    String text(byte[] b) {
      return new String(b, start, end - start, StandardCharsets.UTF_8);
    }
  }

  private static java.util.List<Field> fields(byte[] b, int from, int to) throws IOException {
    java.util.List<Field> out = new java.util.ArrayList<>();
    int[] pos = {from};
    while (pos[0] < to) {
      long tag = varint(b, pos);
      int wire = (int) (tag & 7);
      int start = pos[0];
      switch (wire) {
        case 0 -> {
          long v = varint(b, pos);
          out.add(new Field((int) (tag >>> 3), wire, start, pos[0], v));
        }
        case 1 -> {
          pos[0] += 8;
          out.add(new Field((int) (tag >>> 3), wire, start, pos[0], 0));
        }
        case 5 -> {
          pos[0] += 4;
          out.add(new Field((int) (tag >>> 3), wire, start, pos[0], 0));
        }
        case 2 -> {
          int len = (int) varint(b, pos);
          out.add(new Field((int) (tag >>> 3), wire, pos[0], pos[0] + len, 0));
          pos[0] += len;
        }
        default -> throw new IOException("unsupported protobuf wire type " + wire);
      }
    }
    return out;
  }

  private static Field first(java.util.List<Field> fields, int number) {
    return fields.stream().filter(f -> f.number() == number).findFirst().orElse(null);
  }

  /**
   * Zeroes, in place, the leading 1 of every constant Reshape target shape (NodeProto: input 1, output 2, op_type 4,
   * attribute 5; initializer TensorProto: int64_data 7, name 8, raw_data 9; AttributeProto.t 5). Returns how many.
   */
  private static int batchedReshapes(byte[] model) throws IOException {
    Field graph = first(fields(model, 0, model.length), 7);
    java.util.List<Field> graphFields = fields(model, graph.start(), graph.end());
    java.util.Set<String> targets = new java.util.HashSet<>();
    for (Field node : graphFields) {
      if (node.number() != 1) {
        continue;
      }
      java.util.List<Field> nf = fields(model, node.start(), node.end());
      Field op = first(nf, 4);
      java.util.List<Field> inputs = nf.stream().filter(f -> f.number() == 1).toList();
      if (op != null && op.text(model).equals("Reshape") && inputs.size() >= 2) {
        targets.add(inputs.get(1).text(model));
      }
    }
    int edited = 0;
    for (Field f : graphFields) {
      if (f.number() == 5) { // initializer
        java.util.List<Field> tf = fields(model, f.start(), f.end());
        Field name = first(tf, 8);
        if (name != null && targets.contains(name.text(model)) && zeroLeadingOne(model, tf)) {
          edited++;
        }
      } else if (f.number() == 1) { // Constant node producing a Reshape target
        java.util.List<Field> nf = fields(model, f.start(), f.end());
        Field op = first(nf, 4);
        Field output = first(nf, 2);
        if (op != null && op.text(model).equals("Constant") && output != null
            && targets.contains(output.text(model))) {
          for (Field attr : nf.stream().filter(a -> a.number() == 5).toList()) {
            Field t = first(fields(model, attr.start(), attr.end()), 5);
            if (t != null && zeroLeadingOne(model, fields(model, t.start(), t.end()))) {
              edited++;
            }
          }
        }
      }
    }
    return edited;
  }

  /** A TensorProto of int64 whose first element is 1: make it 0 (raw little-endian, or packed varint). */
  private static boolean zeroLeadingOne(byte[] b, java.util.List<Field> tensor) {
    Field raw = first(tensor, 9);
    if (raw != null && raw.end() - raw.start() >= 8) {
      for (int i = 1; i < 8; i++) {
        if (b[raw.start() + i] != 0) {
          return false;
        }
      }
      if (b[raw.start()] == 1) {
        b[raw.start()] = 0;
        return true;
      }
      return false;
    }
    Field packed = first(tensor, 7);
    if (packed != null && packed.wire() == 2 && packed.end() > packed.start() && b[packed.start()] == 1) {
      b[packed.start()] = 0;
      return true;
    }
    return false;
  }

  /** Dimension { dim_param: "batch" }. */
  private static byte[] symbolicDim() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] text = "batch".getBytes(StandardCharsets.UTF_8);
    writeVarint(out, (2 << 3) | 2);
    writeVarint(out, text.length);
    out.write(text);
    return out.toByteArray();
  }

  private static long varint(byte[] b, int[] pos) {
    long value = 0;
    int shift = 0;
    while (true) {
      byte x = b[pos[0]++];
      value |= (long) (x & 0x7f) << shift;
      if ((x & 0x80) == 0) {
        return value;
      }
      shift += 7;
    }
  }

  private static void writeVarint(ByteArrayOutputStream out, long value) {
    while ((value & ~0x7fL) != 0) {
      out.write((int) ((value & 0x7f) | 0x80));
      value >>>= 7;
    }
    out.write((int) value);
  }
}
