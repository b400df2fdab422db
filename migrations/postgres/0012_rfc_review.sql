-- The latest model review of an RFC (feature rfc.review) as JSON: rubric notes kept beside the
-- completeness score.
ALTER TABLE rfcs ADD COLUMN review TEXT;
