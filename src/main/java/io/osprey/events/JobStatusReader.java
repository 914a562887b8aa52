package io.osprey.events;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

/**
 * How job event streams read a job's owner and current status. Owned here and implemented by the composition root
 * over the jobs module's repository, so {@code events} does not depend on {@code jobs}.
 */
@FunctionalInterface
public interface JobStatusReader {
  /** The job, or null when there is no such job; fails when the store cannot be read. */
  Future<JobStatus> read(String jobId);

  /** {@code status}: the job status DTO (with {@code job_id}, {@code status}, {@code progress}, ...). */
  record JobStatus(String userId, JsonObject status) {
  }
}
