"""The job lifecycle: sweep, process one message, retry policy, model choice (no boto3/httpx here)."""
