-- Job metadata (Job::metadata, popqueue/job.h): a JSON object of strings
-- (common/job_json.h EncodeMetadata). NULL = none.
ALTER TABLE "{{table}}" ADD COLUMN metadata TEXT;
