package io.osprey.inference;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What an ONNX file declares about itself (graph inputs and outputs with their shapes, and the metadata
 * properties), read from its protobuf encoding without ONNX Runtime. The API role has no runtime and must not load
 * models (memory, seconds per model) just to list them; this walks the file's fields, skipping weights by their
 * length, from a memory mapping (nothing of the weights is copied onto the heap).
 *
 * <p>The fields read, from onnx.proto: ModelProto graph = 7, metadata_props = 14 (key = 1, value = 2); GraphProto
 * initializer = 5 (TensorProto name = 8), input = 11, output = 12; ValueInfoProto name = 1, type = 2; TypeProto
 * tensor_type = 1; Tensor shape = 2; TensorShapeProto dim = 1; Dimension dim_value = 1, dim_param = 2.
 */
final class OnnxHeader {
  /** A graph input or output; symbolic or missing dimensions are -1, as ONNX Runtime reports them. */
  record Value(String name, long[] shape) {
  }

  final List<Value> inputs;
  final List<Value> outputs;
  final Map<String, String> metadata;

  private OnnxHeader(List<Value> inputs, List<Value> outputs, Map<String, String> metadata) {
    this.inputs = inputs;
    this.outputs = outputs;
    this.metadata = metadata;
  }

  /** Reads the header of {@code file}; an IOException says why it is not a readable ONNX model. */
  static OnnxHeader read(Path file) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = channel.size();
      if (size > Integer.MAX_VALUE) {
        throw new IOException("larger than 2 GiB: weights in the file itself are not read here");
      }
      MappedByteBuffer buffer = channel.map(FileChannel.MapMode.READ_ONLY, 0, size);
      return parse(buffer);
    }
  }

  static OnnxHeader parse(ByteBuffer model) throws IOException {
    List<Value> inputs = new ArrayList<>();
    List<Value> outputs = new ArrayList<>();
    Map<String, String> metadata = new LinkedHashMap<>();
    Set<String> initializers = new HashSet<>();
    boolean graph = false;
    Reader r = new Reader(model);
    while (r.more()) {
      long tag = r.varint();
      int field = (int) (tag >>> 3);
      int wire = (int) (tag & 7);
      if (field == 7 && wire == 2) {
        graph = true;
        graph(r.slice(), inputs, outputs, initializers);
      } else if (field == 14 && wire == 2) {
        Reader entry = r.slice();
        String key = null;
        String value = "";
        while (entry.more()) {
          long t = entry.varint();
          if ((t >>> 3) == 1 && (t & 7) == 2) {
            key = entry.string();
          } else if ((t >>> 3) == 2 && (t & 7) == 2) {
            value = entry.string();
          } else {
            entry.skip((int) (t & 7));
          }
        }
        if (key != null) {
          metadata.put(key, value);
        }
      } else {
        r.skip(wire);
      }
    }
    if (!graph) {
      throw new IOException("no graph: not an ONNX model");
    }
    // Before IR version 4 initializers were also listed as inputs; ONNX Runtime does not count those as inputs.
    inputs.removeIf(v -> initializers.contains(v.name()));
    return new OnnxHeader(List.copyOf(inputs), List.copyOf(outputs), Map.copyOf(metadata));
  }

  private static void graph(Reader g, List<Value> inputs, List<Value> outputs, Set<String> initializers)
      throws IOException {
    while (g.more()) {
      long tag = g.varint();
      int field = (int) (tag >>> 3);
      int wire = (int) (tag & 7);
      if (wire == 2 && (field == 11 || field == 12)) {
        Value v = valueInfo(g.slice());
        (field == 11 ? inputs : outputs).add(v);
      } else if (wire == 2 && field == 5) {
        Reader tensor = g.slice();
        while (tensor.more()) {
          long t = tensor.varint();
          if ((t >>> 3) == 8 && (t & 7) == 2) {
            initializers.add(tensor.string());
          } else {
            tensor.skip((int) (t & 7));
          }
        }
      } else {
        g.skip(wire);
      }
    }
  }

  private static Value valueInfo(Reader v) throws IOException {
    String name = "";
    long[] shape = new long[0];
    while (v.more()) {
      long tag = v.varint();
      if ((tag >>> 3) == 1 && (tag & 7) == 2) {
        name = v.string();
      } else if ((tag >>> 3) == 2 && (tag & 7) == 2) {
        shape = tensorShape(v.slice());
      } else {
        v.skip((int) (tag & 7));
      }
    }
    return new Value(name, shape);
  }

  /** TypeProto → tensor_type → shape → dims; a type that is not a tensor has no shape. */
  private static long[] tensorShape(Reader type) throws IOException {
    long[] shape = new long[0];
    while (type.more()) {
      long tag = type.varint();
      if ((tag >>> 3) == 1 && (tag & 7) == 2) {
        Reader tensor = type.slice();
        while (tensor.more()) {
          long t = tensor.varint();
          if ((t >>> 3) == 2 && (t & 7) == 2) {
            shape = dims(tensor.slice());
          } else {
            tensor.skip((int) (t & 7));
          }
        }
      } else {
        type.skip((int) (tag & 7));
      }
    }
    return shape;
  }

  private static long[] dims(Reader shape) throws IOException {
    List<Long> dims = new ArrayList<>();
    while (shape.more()) {
      long tag = shape.varint();
      if ((tag >>> 3) == 1 && (tag & 7) == 2) {
        Reader dim = shape.slice();
        long value = -1;
        while (dim.more()) {
          long t = dim.varint();
          if ((t >>> 3) == 1 && (t & 7) == 0) {
            value = dim.varint();
          } else {
            dim.skip((int) (t & 7));
          }
        }
        dims.add(value);
      } else {
        shape.skip((int) (tag & 7));
      }
    }
    return dims.stream().mapToLong(Long::longValue).toArray();
  }

  /** Protobuf wire format over a buffer window; every length is checked against what is left. */
  private static final class Reader {
    private final ByteBuffer buf;

    Reader(ByteBuffer buf) {
      this.buf = buf;
    }

    boolean more() {
      return buf.hasRemaining();
    }

    long varint() throws IOException {
      long value = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (!buf.hasRemaining()) {
          throw new IOException("truncated varint at byte " + buf.position());
        }
        byte b = buf.get();
        value |= (long) (b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
          return value;
        }
      }
      throw new IOException("malformed varint at byte " + buf.position());
    }

    int length() throws IOException {
      long n = varint();
      if (n < 0 || n > buf.remaining()) {
        throw new IOException("a field of " + n + " bytes at byte " + buf.position() + " runs past its message");
      }
      return (int) n;
    }

    Reader slice() throws IOException {
      int n = length();
      ByteBuffer part = buf.slice(buf.position(), n);
      buf.position(buf.position() + n);
      return new Reader(part);
    }

    String string() throws IOException {
      int n = length();
      byte[] bytes = new byte[n];
      buf.get(bytes);
      return new String(bytes, StandardCharsets.UTF_8);
    }

    void skip(int wire) throws IOException {
      switch (wire) {
        case 0 -> varint();
        case 1 -> advance(8);
        case 2 -> advance(length());
        case 5 -> advance(4);
        default -> throw new IOException("unsupported protobuf wire type " + wire + " at byte " + buf.position());
      }
    }

    private void advance(int n) throws IOException {
      if (n > buf.remaining()) {
        throw new IOException("truncated at byte " + buf.position());
      }
      buf.position(buf.position() + n);
    }
  }
}
