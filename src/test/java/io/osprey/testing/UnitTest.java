package io.osprey.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.Tag;

/**
 * A test of logic alone: no PostgreSQL, Redis, RabbitMQ, child process, browser, model or ../shared asset it cannot
 * do without (an in-process loopback fixture is fine). {@code mvn test -Dgroups=unit} runs only these, in seconds.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@Tag("unit")
public @interface UnitTest {
}
