package io.osprey;

import static com.tngtech.archunit.core.domain.JavaClass.Predicates.equivalentTo;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideOutsideOfPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideOutsideOfPackages;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTag;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;
import io.osprey.outbox.StreamTail;
import java.util.Arrays;
import java.util.stream.Stream;

/**
 * The package graph of src/main (issue 16, item 5), checked on the compiled classes:
 * <pre>
 * app (io.osprey: Launcher, OspreyApp, Role)  composes everything below
 * cli                                          HTTP client code only
 * modules   uploads jobs workers annotations outbox events retention admin console
 * edge      http auth health                   no module
 * domain    imaging inference rules pipeline   domain and base only, no Vert.x
 *           eval
 * base      config bus storage metrics errors  base only
 *           module (the OspreyModule contract)
 * </pre>
 * Modules may use one another as long as no cycle forms; an interface is owned by its user (jobs declares
 * AnnotationSink, annotations implements it).
 */
@AnalyzeClasses(packages = "io.osprey", importOptions = ImportOption.DoNotIncludeTests.class)
@ArchTag("unit") // ArchUnit's engine reads its own tag annotation, not io.osprey.testing.UnitTest
class ArchitectureTest {
  private static final String[] BASE = {
      "io.osprey.config..", "io.osprey.bus..", "io.osprey.storage..", "io.osprey.metrics..", "io.osprey.errors..",
      "io.osprey.module.."};
  private static final String[] DOMAIN = {
      "io.osprey.imaging..", "io.osprey.inference..", "io.osprey.rules..", "io.osprey.pipeline..",
      "io.osprey.eval.."};
  private static final String[] EDGE = {"io.osprey.http..", "io.osprey.auth..", "io.osprey.health.."};
  private static final String[] MODULES = {
      "io.osprey.uploads..", "io.osprey.jobs..", "io.osprey.workers..", "io.osprey.annotations..",
      "io.osprey.outbox..", "io.osprey.events..", "io.osprey.retention..", "io.osprey.admin..",
      "io.osprey.console.."};

  private static String[] plus(String[] a, String... b) {
    return Stream.concat(Arrays.stream(a), Arrays.stream(b)).toArray(String[]::new);
  }

  @ArchTest
  static final ArchRule packagesFormNoCycle = slices().matching("io.osprey.(*)..").namingSlices("$1")
      .should().beFreeOfCycles();

  @ArchTest
  static final ArchRule basePackagesUseOnlyBasePackages = classes().that().resideInAnyPackage(BASE)
      .should().onlyDependOnClassesThat(resideOutsideOfPackage("io.osprey..").or(resideInAnyPackage(BASE)))
      .because("config, bus, storage, metrics, errors and the module contract are the base every other package"
          + " stands on");

  @ArchTest
  static final ArchRule domainUsesOnlyDomainAndBaseAndNoVertx = classes().that().resideInAnyPackage(DOMAIN)
      .should().onlyDependOnClassesThat(resideOutsideOfPackages("io.osprey..", "io.vertx..")
          .or(resideInAnyPackage(plus(DOMAIN, BASE))))
      .because("image inspection, inference and rules are plain Java, testable without Vert.x or a module");

  @ArchTest
  static final ArchRule edgeImportsNoModule = noClasses().that().resideInAnyPackage(EDGE)
      .should().dependOnClassesThat().resideInAnyPackage(MODULES)
      .because("http, auth and health serve every module; modules register their routes and checks with them");

  /**
   * Two known exceptions: {@code osprey stream tail} runs the operator's stream reader (outbox.StreamTail), which
   * reads the service's own configuration and stream rather than its HTTP API; {@code osprey eval} uses the eval
   * package (the COCO metrics, and with --local the in-process engine), a domain package with no server code.
   */
  @ArchTest
  static final ArchRule cliImportsNoServerPackage = classes().that().resideInAPackage("io.osprey.cli..")
      .should().onlyDependOnClassesThat(resideOutsideOfPackage("io.osprey..").or(resideInAPackage("io.osprey.cli.."))
          .or(resideInAPackage("io.osprey.eval..")).or(equivalentTo(StreamTail.class)))
      .because("the osprey client speaks HTTP to a server; it shares no server code");

  @ArchTest
  static final ArchRule nothingButTheAppUsesTheApp = noClasses().that().resideOutsideOfPackage("io.osprey")
      .should().dependOnClassesThat().resideInAPackage("io.osprey")
      .because("Launcher and OspreyApp compose the modules; nothing they compose knows them");

  @ArchTest
  static final ArchRule servicesAndRepositoriesThrowNoHttpType = noClasses()
      .that().haveSimpleNameEndingWith("Service").or().haveSimpleNameEndingWith("Repository")
      .should().dependOnClassesThat().resideInAPackage("io.osprey.http..")
      .because("services fail with io.osprey.errors.OspreyException; the HTTP layer maps it to the error shape");

  @ArchTest
  static final ArchRule noVertxInternals = noClasses().should().dependOnClassesThat()
      .resideInAPackage("io.vertx..impl..")
      .because("internal Vert.x classes change without notice; use the public API");

  /**
   * The target for events: base packages, http and auth only (job status through an interface or bus messages,
   * annotation states without the annotations module).
   */
  @ArchTest
  static final ArchRule eventsUsesOnlyBaseHttpAndAuth = classes().that().resideInAPackage("io.osprey.events..")
      .should().onlyDependOnClassesThat(resideOutsideOfPackage("io.osprey..")
          .or(resideInAnyPackage(plus(BASE, "io.osprey.events..", "io.osprey.http..", "io.osprey.auth.."))))
      .because("events reads job status and annotation states through interfaces or bus messages");
}
