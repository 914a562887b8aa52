package io.osprey.inference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The ONNX header reader on hand-encoded protobuf: inputs, outputs and shapes (symbolic dimensions as -1), the
 * metadata, initializers listed as inputs (IR before 4) left out, unknown fields skipped, damage refused.
 */
@UnitTest
class OnnxHeaderTest {

  @Test
  void readsInputsOutputsShapesAndMetadataSkippingWeightsAndUnknownFields() throws IOException {
    byte[] graph = concat(
        field(1, bytes("node-bytes-ignored")), // a node
        field(5, concat(field(8, bytes("conv.weight")), field(9, new byte[300]))), // an initializer with raw data
        field(11, valueInfo("images", -1, 3, 640, 640)),
        field(11, valueInfo("conv.weight", 16, 3, 3, 3)), // an initializer also listed as input (IR < 4)
        field(12, valueInfo("output0", 1, 84, 8400)));
    byte[] model = concat(varintField(1, 9), field(7, graph),
        field(14, concat(field(1, bytes("names")), field(2, bytes("{0: 'person', 1: 'bicycle'}")))),
        fixed32Field(99));
    OnnxHeader header = OnnxHeader.parse(ByteBuffer.wrap(model));
    assertEquals(List.of("images"), header.inputs.stream().map(OnnxHeader.Value::name).toList());
    assertArrayEquals(new long[] {-1, 3, 640, 640}, header.inputs.get(0).shape());
    assertEquals("output0", header.outputs.get(0).name());
    assertArrayEquals(new long[] {1, 84, 8400}, header.outputs.get(0).shape());
    assertEquals(Map.of("names", "{0: 'person', 1: 'bicycle'}"), header.metadata);
  }

  @Test
  void refusesWhatIsNotAModel() {
    assertTrue(assertThrows(IOException.class, () -> OnnxHeader.parse(ByteBuffer.wrap(varintField(1, 9))))
        .getMessage().contains("no graph"));
    byte[] cut = field(7, field(11, valueInfo("images", 1, 3, 64, 64)));
    byte[] truncated = Arrays.copyOf(cut, cut.length - 5);
    assertTrue(assertThrows(IOException.class, () -> OnnxHeader.parse(ByteBuffer.wrap(truncated)))
        .getMessage().contains("runs past"));
    assertThrows(IOException.class, () -> OnnxHeader.parse(ByteBuffer.wrap(
        "this is not a protobuf".getBytes(StandardCharsets.UTF_8))));
  }

  /** ValueInfoProto{name, type: TypeProto{tensor_type: {elem_type: 1, shape: {dim...}}}}; -1 = symbolic "N". */
  private static byte[] valueInfo(String name, long... dims) {
    ByteArrayOutputStream shape = new ByteArrayOutputStream();
    for (long d : dims) {
      shape.writeBytes(field(1, d < 0 ? field(2, bytes("N")) : varintField(1, d)));
    }
    byte[] tensor = concat(varintField(1, 1), field(2, shape.toByteArray()));
    return concat(field(1, bytes(name)), field(2, field(1, tensor)));
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] field(int number, byte[] payload) {
    return concat(varint((long) number << 3 | 2), varint(payload.length), payload);
  }

  private static byte[] varintField(int number, long value) {
    return concat(varint((long) number << 3), varint(value));
  }

  private static byte[] fixed32Field(int number) {
    return concat(varint((long) number << 3 | 5), new byte[4]);
  }

  private static byte[] varint(long v) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    while ((v & ~0x7FL) != 0) {
      out.write((int) ((v & 0x7F) | 0x80));
      v >>>= 7;
    }
    out.write((int) v);
    return out.toByteArray();
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }
}
