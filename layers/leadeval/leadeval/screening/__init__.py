"""The screening domain: document kinds, preparation, forensics, validation, policy, scoring, results
(no boto3/httpx here)."""
