-- Holds of calls made for an RFC carry its id, so that a call orphaned by a stopped instance
-- still counts in the RFC's cost.
ALTER TABLE llm_reservations ADD COLUMN rfc_id BIGINT;

-- The rfc.draft job writing an RFC's sections: while it is queued or running, sections are not
-- changed by hand.
ALTER TABLE rfcs ADD COLUMN draft_job_id BIGINT;
