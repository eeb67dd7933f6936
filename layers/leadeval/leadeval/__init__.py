"""leadeval: serverless screening-evaluation job processor.

The package is the Lambda layer shared by the sweep and worker functions, and the
operator / local-run CLI. Nothing here builds clients or reads settings at import time.
"""

__version__ = "0.1.0"
