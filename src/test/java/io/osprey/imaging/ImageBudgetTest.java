package io.osprey.imaging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.config.Config;
import io.osprey.config.ConfigLoader;
import io.osprey.testing.Await;
import io.osprey.testing.ImageBombs;
import io.osprey.testing.UnitTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pixel budget (images.max_pixels) and the decode gate (images.decode_budget_pixels), without a service. */
@UnitTest
class ImageBudgetTest {
  @TempDir
  Path dir;

  @Test
  void defaultBudgetIsTheSquareOfTheUploadMaxDimension() {
    Config config = ConfigLoader.load(Map.of());
    long side = config.integer("uploads.max_dimension");
    assertEquals(8192L * 8192L, config.longValue("images.max_pixels"));
    assertEquals(side * side, ImageBudget.from(config).maxPixels());
    assertEquals(2 * config.longValue("images.max_pixels"), config.longValue("images.decode_budget_pixels"));
  }

  @Test
  void environmentVariableOverridesTheBudget() {
    Config config = ConfigLoader.load(Map.of("OSPREY_IMAGES_MAX_PIXELS", "1000000"));
    assertEquals(1_000_000L, ImageBudget.from(config).maxPixels());
  }

  @Test
  void exactlyAtTheLimitPassesAndOnePixelMoreFails() {
    ImageBudget budget = ImageBudget.from(ConfigLoader.load(Map.of()));
    assertNull(budget.violation(8192, 8192));
    assertTrue(budget.allows(8192, 8192));
    assertFalse(budget.allows(8193, 8192));
    ImageBudget small = new ImageBudget(10_000, 10_000);
    assertNull(small.violation(100, 100));
    assertEquals("Image declares 101x100 = 10100 pixels; the limit is 10000 (images.max_pixels)",
        small.violation(101, 100));
  }

  @Test
  void messageNamesTheDeclaredSizeWithoutOverflow() {
    ImageBudget budget = ImageBudget.from(ConfigLoader.load(Map.of()));
    assertEquals("Image declares 20000x20000 = 400000000 pixels; the limit is 67108864 (images.max_pixels)",
        budget.violation(20000, 20000));
    assertEquals("Image declares 100000x100000 = 10000000000 pixels; the limit is 67108864 (images.max_pixels)",
        budget.violation(100_000, 100_000));
    assertEquals("Image declares 2147483647x2147483647 = 4611686014132420609 pixels; the limit is 67108864"
        + " (images.max_pixels)", budget.violation(Integer.MAX_VALUE, Integer.MAX_VALUE));
  }

  @Test
  void handMadeBombsPassTheStructureCheckWithTheSizeTheyDeclare() throws Exception {
    assertDeclares(ImageBombs.png(20000, 20000), "bomb.png", 20000, 20000);
    assertDeclares(ImageBombs.jpeg(20000, 20000), "bomb.jpg", 20000, 20000);
    assertDeclares(ImageBombs.tiff(100_000, 100_000), "bomb.tiff", 100_000, 100_000);
    assertDeclares(ImageBombs.undecodablePng(200, 150), "cut.png", 200, 150);
    ImageBudget budget = ImageBudget.from(ConfigLoader.load(Map.of()));
    assertFalse(budget.allows(20000, 20000));
    assertFalse(budget.allows(100_000, 100_000));
  }

  private void assertDeclares(byte[] bytes, String name, int width, int height) throws Exception {
    Path file = Files.write(dir.resolve(name), bytes);
    ImageInspector.Result r = ImageInspector.inspect(file, name);
    assertTrue(r.ok(), name + ": " + r.errorMessage());
    assertEquals(width, r.width());
    assertEquals(height, r.height());
  }

  @Test
  void decodesBeyondTheBudgetWaitUntilPixelsAreReleased() throws Exception {
    ImageBudget budget = new ImageBudget(1 << 20, 2L << 20);
    ImageBudget.Permit first = budget.acquire(1 << 20);
    ImageBudget.Permit second = budget.acquire(1 << 20);
    assertEquals(0, budget.availablePixels());
    CountDownLatch started = new CountDownLatch(1);
    AtomicBoolean third = new AtomicBoolean();
    Thread waiter = new Thread(() -> {
      started.countDown();
      try (ImageBudget.Permit p = budget.acquire(1 << 20)) {
        third.set(true);
      }
    });
    waiter.start();
    started.await();
    // Parked in the budget's semaphore: the third decode really waits, it is not merely slow to start.
    Await.until("the third decode waits for the budget", Duration.ofSeconds(5),
        () -> waiter.getState() == Thread.State.WAITING);
    assertFalse(third.get(), "a third decode of the largest image waits while two hold the budget");
    first.close();
    waiter.join(5000);
    assertTrue(third.get());
    second.close();
    second.close(); // closing twice releases once
    assertEquals(2L << 20, budget.availablePixels());
  }

  @Test
  void aDecodeLargerThanTheWholeBudgetRunsAloneInsteadOfNever() throws Exception {
    ImageBudget budget = new ImageBudget(100L << 20, 1L << 20);
    Thread t = new Thread(() -> {
      try (ImageBudget.Permit p = budget.acquire(50L << 20)) {
        assertEquals(0, budget.availablePixels());
      }
    });
    t.start();
    t.join(TimeUnit.SECONDS.toMillis(5));
    assertFalse(t.isAlive());
    assertEquals(1L << 20, budget.availablePixels());
  }
}
