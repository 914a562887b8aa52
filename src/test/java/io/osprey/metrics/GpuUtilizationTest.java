package io.osprey.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Parsing of {@code nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits} output. */
@UnitTest
class GpuUtilizationTest {

  @Test
  void oneGpuGivesOneReadingLabelledZero() {
    assertEquals(Map.of("0", 37.0), GpuUtilization.parse("37\n"));
  }

  @Test
  void severalGpusAreLabelledByTheirLinePosition() {
    Map<String, Double> readings = GpuUtilization.parse("0\r\n100\n 12 \n");
    assertEquals(Map.of("0", 0.0, "1", 100.0, "2", 12.0), readings);
  }

  @Test
  void aGpuWithoutAReadingIsLeftOutButKeepsTheOthersIndices() {
    assertEquals(Map.of("1", 55.0), GpuUtilization.parse("[N/A]\n55\n"));
  }

  @Test
  void garbageOrErrorsGiveNothing() {
    assertTrue(GpuUtilization.parse("").isEmpty());
    assertTrue(GpuUtilization.parse(null).isEmpty());
    assertTrue(GpuUtilization.parse("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
        + " Make sure that the latest NVIDIA driver is installed and running.\n").isEmpty());
    assertTrue(GpuUtilization.parse("utilization.gpu [%]\n-5\n250\nNaN\n").isEmpty());
  }
}
