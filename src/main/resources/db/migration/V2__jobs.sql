-- Detection jobs (spec: "Inference Execution Workflow", "Job Status State Machine").
CREATE TABLE jobs (
    job_id           uuid        PRIMARY KEY,
    user_id          text        NOT NULL,
    upload_id        uuid        NOT NULL REFERENCES uploads (upload_id),
    file_ids         uuid[]      NOT NULL,
    status           text        NOT NULL CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled')),
    config           jsonb       NOT NULL,
    total_images     integer     NOT NULL,
    processed_images integer     NOT NULL DEFAULT 0,
    current_stage    text,
    attempts         integer     NOT NULL DEFAULT 0,
    enqueued         boolean     NOT NULL DEFAULT false,
    cancel_requested boolean     NOT NULL DEFAULT false,
    summary          jsonb,
    error            jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    failed_at        timestamptz,
    cancelled_at     timestamptz
);

CREATE INDEX jobs_user_created_idx ON jobs (user_id, created_at DESC);
CREATE INDEX jobs_queued_idx ON jobs (created_at) WHERE status = 'queued';

-- One row per processed image of a job; a re-run replaces it (primary key), never duplicates it.
CREATE TABLE job_results (
    job_id          uuid        NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    file_id         uuid        NOT NULL REFERENCES uploaded_files (file_id),
    position        integer     NOT NULL,
    detection_count integer     NOT NULL,
    mean_confidence double precision,
    annotated       boolean     NOT NULL DEFAULT false,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, file_id)
);

CREATE INDEX job_results_file_idx ON job_results (file_id, processed_at DESC);
