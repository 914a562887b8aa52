-- Outbox drain to the RabbitMQ stream (issue 8). A row gets its publishing id when the single active drainer
-- (the holder of an advisory lock) leases it for publishing, from a per-producer counter, so ids strictly increase
-- in publish order whatever order the writing transactions committed in. A row keeps its id until the broker
-- confirms it and the row is deleted; a re-publish after a crash reuses the id and the broker drops the copy.
ALTER TABLE annotation_outbox
    ADD COLUMN publishing_id bigint,
    ADD COLUMN held_until    timestamptz,
    ADD COLUMN held_reason   text;
CREATE UNIQUE INDEX annotation_outbox_publishing_idx ON annotation_outbox (publishing_id)
    WHERE publishing_id IS NOT NULL;

CREATE TABLE outbox_producers (
    name               text   PRIMARY KEY,
    last_publishing_id bigint NOT NULL
);
-- The drainer reads the (few) held rows on their own.
CREATE INDEX annotation_outbox_held_idx ON annotation_outbox (held_until) WHERE held_until IS NOT NULL;
