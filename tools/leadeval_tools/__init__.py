"""Everything of leadeval that runs outside Lambda: the operator and local-run CLI, the local runtime, the
sample data, the application-database bootstrap (``db init``) and the fakes the tests use. Installed by
``make``; never copied into the Lambda layer."""
