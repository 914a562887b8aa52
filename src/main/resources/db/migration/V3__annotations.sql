-- Annotations service (annotations-flows.md F1, F2, F5, F7, F8 and the Stakeholder Resolutions).

-- F7: one row of filesystem roots. Relative values are resolved from annotations.roots_base at run time, so the
-- seeded defaults work wherever the storage root is; an administrator may set absolute paths.
CREATE TABLE directory_settings (
    id             integer     PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    videos_dir     text        NOT NULL,
    images_dir     text        NOT NULL,
    labels_dir     text        NOT NULL,
    thumbnails_dir text        NOT NULL,
    results_dir    text        NOT NULL,
    gps_sat_dir    text        NOT NULL,
    gps_route_dir  text        NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO directory_settings (videos_dir, images_dir, labels_dir, thumbnails_dir, results_dir, gps_sat_dir, gps_route_dir)
VALUES ('videos', 'images', 'labels', 'thumbnails', 'results', 'gps/sat', 'gps/route');

-- F5: uploaded media. The id is the XXH3-128 of the sampled file bytes (RB-04), so uploading the same file twice
-- gives the same row. files_state: pending (row committed, file not yet in place), complete, missing (flagged).
CREATE TABLE media (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    media_type  text        NOT NULL CHECK (media_type IN ('Image', 'Video')),
    format      text        NOT NULL,
    size_bytes  bigint      NOT NULL,
    width       integer,
    height      integer,
    path        text        NOT NULL,
    flight_id   text,
    waypoint_id text,
    status      text        NOT NULL DEFAULT 'New',
    files_state text        NOT NULL DEFAULT 'pending' CHECK (files_state IN ('pending', 'complete', 'missing')),
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_waypoint_idx ON media (waypoint_id);
CREATE INDEX media_pending_idx ON media (updated_at) WHERE files_state = 'pending';

-- F1/F2: annotations. status: 10 Created, 20 Edited, 30 Validated, 40 Deleted (soft delete).
-- files_state: pending (image/label/thumbnail being written after commit), complete, missing (image lost: flagged),
-- purging (hard delete in progress: files go first, then the row).
CREATE TABLE annotations (
    id           text        PRIMARY KEY,
    media_id     text        NOT NULL REFERENCES media (id),
    name         text        NOT NULL,
    flight_id    text,
    waypoint_id  text,
    source       text        NOT NULL CHECK (source IN ('AI', 'Manual')),
    status       smallint    NOT NULL CHECK (status IN (10, 20, 30, 40)),
    image_format text        NOT NULL,
    width        integer     NOT NULL,
    height       integer     NOT NULL,
    job_id       uuid,
    files_state  text        NOT NULL DEFAULT 'pending'
                             CHECK (files_state IN ('pending', 'complete', 'missing', 'purging')),
    version      integer     NOT NULL DEFAULT 1,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX annotations_created_idx ON annotations (created_at DESC, id DESC);
CREATE INDEX annotations_flight_idx ON annotations (flight_id, created_at DESC);
CREATE INDEX annotations_waypoint_idx ON annotations (waypoint_id, created_at DESC);
CREATE INDEX annotations_media_idx ON annotations (media_id);
CREATE INDEX annotations_status_idx ON annotations (status);
CREATE INDEX annotations_pending_idx ON annotations (updated_at) WHERE files_state IN ('pending', 'purging');

CREATE TABLE detections (
    annotation_id text    NOT NULL REFERENCES annotations (id) ON DELETE CASCADE,
    idx           integer NOT NULL,
    class_num     integer NOT NULL,
    label         text    NOT NULL,
    center_x      real    NOT NULL,
    center_y      real    NOT NULL,
    width         real    NOT NULL,
    height        real    NOT NULL,
    confidence    real    NOT NULL,
    PRIMARY KEY (annotation_id, idx)
);
CREATE INDEX detections_class_idx ON detections (class_num);

-- RB-06: the admin-managed class catalog.
CREATE TABLE detection_classes (
    id         integer     PRIMARY KEY CHECK (id >= 0),
    name       text        NOT NULL UNIQUE,
    short_name text        NOT NULL,
    color      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- RB-01/RB-03: the transactional outbox. Every mutation writes one row in its own transaction; the drainer
-- (issue 8) publishes rows to the RabbitMQ stream. A bulk status change is one row naming all its annotations.
-- payload is the live event (AnnotationEventDto, or the bulk form) as committed.
CREATE TABLE annotation_outbox (
    id             bigserial   PRIMARY KEY,
    operation      text        NOT NULL,
    annotation_ids text[]      NOT NULL,
    payload        jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
