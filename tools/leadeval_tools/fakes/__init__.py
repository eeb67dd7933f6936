"""In-process fakes of every port and of the Cloudflare APIs, kept honest by the contract tests."""
