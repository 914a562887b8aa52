package io.osprey.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.platform.commons.annotation.Testable;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * Every test class is either {@link UnitTest} or {@link IntegrationTest}: an untagged class would silently drop out
 * of {@code mvn test -Dgroups=unit}, or run there while needing servers.
 */
@UnitTest
class TestTagsTest {
  @Test
  void everyTestClassIsTaggedUnitOrIntegrationExactlyOnce() throws Exception {
    Path classes = Path.of(TestTagsTest.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    List<String> wrong = new ArrayList<>();
    int checked = 0;
    try (Stream<Path> files = Files.walk(classes)) {
      for (Path file : files.filter(p -> p.toString().endsWith(".class") && !p.toString().contains("$")).toList()) {
        String name = classes.relativize(file).toString().replace(file.getFileSystem().getSeparator(), ".")
            .replaceAll("\\.class$", "");
        Class<?> type = Class.forName(name, false, TestTagsTest.class.getClassLoader());
        boolean hasTests = Arrays.stream(type.getDeclaredMethods())
            .anyMatch((Method m) -> AnnotationSupport.isAnnotated(m, Testable.class));
        if (!hasTests) {
          continue;
        }
        checked++;
        Set<String> kinds = AnnotationSupport.findRepeatableAnnotations(type, Tag.class).stream().map(Tag::value)
            .filter(t -> t.equals("unit") || t.equals("integration")).collect(Collectors.toSet());
        if (kinds.size() != 1) {
          wrong.add(name + " " + kinds);
        }
      }
    }
    assertEquals(List.of(), wrong, "classes that need exactly one of @UnitTest or @IntegrationTest");
    assertEquals(true, checked > 50, "found the test classes (" + checked + ") under " + classes);
  }
}
