-- Throughput over a recent window and the retention purge both scan finished jobs by time.
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;
