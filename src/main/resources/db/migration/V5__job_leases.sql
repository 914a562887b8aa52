-- Job leases (issue 15): a worker that takes a job owns it until lease_expires_at and renews the lease while it
-- runs the job, so the broker's delivery can be acknowledged at once and a long job never meets the broker's
-- consumer timeout. A lease that expired means its worker died: the maintenance sweep clears it (counting it in
-- lease_expiries) and hands the job to the broker again; every take counts in attempts, bounded by
-- jobs.max_deliveries.
ALTER TABLE jobs
    ADD COLUMN lease_owner      text,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN lease_expiries   integer NOT NULL DEFAULT 0;

CREATE INDEX jobs_lease_expiry_idx ON jobs (lease_expires_at) WHERE status = 'processing';
