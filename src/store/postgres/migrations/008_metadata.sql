-- Job metadata (Job::metadata, popqueue/job.h): a JSON object of strings
-- (common/job_json.h EncodeMetadata). NULL = none, so jobs without metadata
-- cost nothing; ADD COLUMN without a default rewrites no existing row.
ALTER TABLE {{table}} ADD COLUMN metadata text;
