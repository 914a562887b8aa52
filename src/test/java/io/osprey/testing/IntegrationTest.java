package io.osprey.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;

/**
 * A test that needs a real server, process, browser or model. Each test method gets a generous bound (the slowest,
 * WorkerCrashTest, took 4.3 min on 2 heavily shared cores; its own waits add up to 5), so a hang fails that test
 * instead of stalling the whole run; class set-up and tear-down are bounded by {@code junit-platform.properties}.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@Tag("integration")
@Timeout(value = 10, unit = TimeUnit.MINUTES)
public @interface IntegrationTest {
}
