package io.osprey.annotations;

import io.osprey.jobs.AnnotationSink;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;

/** The annotations module's side of {@link AnnotationSink}: a job's image becomes an annotation of source "AI". */
public final class JobAnnotations implements AnnotationSink {
  private final AnnotationService service;

  public JobAnnotations(AnnotationService service) {
    this.service = service;
  }

  @Override
  public Future<Void> create(JobImage image) {
    List<Detection> detections = new ArrayList<>(image.boxes().size());
    for (Box b : image.boxes()) {
      detections.add(new Detection(b.classId(), b.className(), b.centerX(), b.centerY(), b.width(), b.height(),
          b.confidence()));
    }
    return service.create(new AnnotationService.NewAnnotation(null, image.imageFile(), null, image.name(),
        image.flightId(), image.waypointId(), "AI", detections, image.user(), image.jobId(), true)).mapEmpty();
  }

  @Override
  public Future<Long> countForJob(String jobId) {
    return service.repository().countForJob(jobId);
  }
}
