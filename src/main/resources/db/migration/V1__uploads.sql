-- Uploaded images: one row per upload request and one per file in it (spec: "File Upload Workflow").
CREATE TABLE uploads (
    upload_id    uuid        PRIMARY KEY,
    user_id      text        NOT NULL,
    file_count   integer     NOT NULL CHECK (file_count > 0),
    total_bytes  bigint      NOT NULL CHECK (total_bytes >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX uploads_user_created_idx ON uploads (user_id, created_at DESC);

CREATE TABLE uploaded_files (
    file_id      uuid        PRIMARY KEY,
    upload_id    uuid        NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
    position     integer     NOT NULL,
    filename     text        NOT NULL,
    size_bytes   bigint      NOT NULL CHECK (size_bytes > 0),
    width        integer     NOT NULL CHECK (width > 0),
    height       integer     NOT NULL CHECK (height > 0),
    format       text        NOT NULL CHECK (format IN ('JPEG', 'PNG', 'TIFF')),
    storage_path text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (upload_id, position)
);
