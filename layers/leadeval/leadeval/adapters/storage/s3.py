""":class:`~leadeval.ports.DocumentStore` adapters over the S3 API: Amazon S3 and Cloudflare R2.

Both use a boto3 ``s3`` client, passed in or built lazily on first use (``boto3`` is imported
only then). Every botocore failure is translated once, in :func:`_map_client_error`, into the
:mod:`leadeval.errors` tree; callers never see botocore types.

R2 (``R2DocumentStore`` / :func:`r2_client`) needs its own client settings, all set on that
client only (never through ``AWS_*`` environment variables, which would change every other
AWS client in the Lambda), and its own credentials (an R2 API token's access key pair, never
the Lambda role's credentials). Sources: Cloudflare R2 docs, "S3 API compatibility"
(``r2/api/s3/api.mdx``: endpoint ``https://<ACCOUNT_ID>.r2.cloudflarestorage.com``, region
``auto``, SigV4 only) and "boto3" example (``r2/examples/aws/boto3.mdx``: boto3 >= 1.36
default integrity checksums are incompatible with R2, use ``when_required``).
"""

from __future__ import annotations

import logging
import re
import threading
from email.utils import parsedate_to_datetime
from typing import Any

from leadeval.adapters import aws
from leadeval.errors import (
    ConfigurationError,
    DocumentMissing,
    DocumentTooLarge,
    LeadevalError,
    StorageError,
    ThrottledError,
)
from leadeval.timeutil import utcnow

logger = logging.getLogger(__name__)

#: Seconds a throttled caller waits when the store sends no ``Retry-After`` header (S3's
#: ``SlowDown`` usually carries none; botocore's standard retry mode has already backed off).
DEFAULT_THROTTLE_RETRY_AFTER = 5.0

#: Error codes meaning "slow down" (S3 ``SlowDown`` is HTTP 503; AWS-wide throttling codes
#: from botocore's ``retryhandler``/``standard`` retry mode: ``Throttling``,
#: ``ThrottlingException``, ``RequestLimitExceeded``, ``RequestThrottled``, ``TooManyRequests…``).
_THROTTLE_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "RequestLimitExceeded", "TooManyRequests",
    "TooManyRequestsException", "ProvisionedThroughputExceededException",
})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
#: Credential problems: retrying cannot help, an operator must fix a secret or a policy.
_ACCESS_KEY_CODES = frozenset({"InvalidAccessKeyId", "InvalidToken", "ExpiredToken", "TokenRefreshRequired"})
_SECRET_KEY_CODES = frozenset({"SignatureDoesNotMatch"})
_DENIED_CODES = frozenset({
    "AccessDenied", "AllAccessDisabled", "AccountProblem", "Unauthorized", "Forbidden",
    "AuthorizationHeaderMalformed", "NotImplemented",
})
_BUCKET_CODES = frozenset({"NoSuchBucket", "InvalidBucketName", "PermanentRedirect"})

_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9-]{1,63}$")


def _error_code_and_status(exc: Any) -> tuple[str, int | None]:
    """(error code, HTTP status) of a botocore ``ClientError`` ("" / None when absent)."""
    response = getattr(exc, "response", None) or {}
    code = str((response.get("Error") or {}).get("Code") or "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code, int(status) if status is not None else None


def _retry_after_seconds(exc: Any, default: float = DEFAULT_THROTTLE_RETRY_AFTER) -> float:
    """The ``Retry-After`` header of a ``ClientError`` in seconds (delta-seconds or an HTTP
    date, RFC 9110 §10.2.3), else ``default``."""
    response = getattr(exc, "response", None) or {}
    headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    if value is None:
        return default
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return default
    return max(0.0, (when - utcnow()).total_seconds())


def _map_client_error(exc: BaseException, *, access_key_variable: str | None = None,
                      secret_key_variable: str | None = None,
                      bucket_variable: str = "LEADEVAL_DOCUMENTS_URL") -> LeadevalError:
    """Translate a botocore exception (``ClientError`` or ``BotoCoreError``) into leadeval's tree.

    ==========================================================  =================================
    botocore                                                    leadeval
    ==========================================================  =================================
    ``NoSuchKey`` / ``404`` / ``NotFound``                      DocumentMissing("missing from
                                                                storage")
    ``SlowDown`` (S3: HTTP 503), any HTTP 429, ``Throttling``,  ThrottledError(retry_after =
    ``ThrottlingException``, ``RequestLimitExceeded``, …        ``Retry-After`` or 5 s)
    ``InvalidAccessKeyId``, ``ExpiredToken``, …                 ConfigurationError(variable =
                                                                ``access_key_variable``)
    ``SignatureDoesNotMatch``                                   ConfigurationError(variable =
                                                                ``secret_key_variable``)
    ``AccessDenied``, HTTP 401/403, ``NotImplemented`` (R2's    ConfigurationError(variable =
    answer to unsupported checksum headers), …                  ``access_key_variable``)
    ``NoSuchBucket``, ``InvalidBucketName``                     ConfigurationError(variable =
                                                                ``bucket_variable``)
    ``NoCredentialsError``, ``PartialCredentialsError``, …      ConfigurationError
    other 5xx, other 4xx, ``EndpointConnectionError``,          StorageError (retryable)
    ``ConnectTimeoutError``, ``ReadTimeoutError``,
    ``ConnectionClosedError``, ``ResponseStreamingError``, …
    ==========================================================  =================================

    Note: S3 answers 403 ``AccessDenied`` instead of 404 for a missing key when the caller
    lacks ``s3:ListBucket`` (S3 GetObject API reference, "Permissions"); grant it, or missing
    documents snooze their jobs as configuration errors instead of becoming `unreadable`.

    Returns the exception to raise (the caller raises it ``from exc``).
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        CredentialRetrievalError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, ClientError):
        code, status = _error_code_and_status(exc)
        label = code or str(status)
        if code in _MISSING_CODES or (status == 404 and code not in _BUCKET_CODES):
            return DocumentMissing("missing from storage")
        if code in _THROTTLE_CODES or status == 429:
            return ThrottledError(f"storage throttled ({label})", retry_after=_retry_after_seconds(exc))
        if code in _BUCKET_CODES:
            return ConfigurationError(f"storage bucket unusable ({label})", variable=bucket_variable)
        if code in _SECRET_KEY_CODES:
            return ConfigurationError(f"storage credentials rejected ({label})", variable=secret_key_variable)
        if code in _ACCESS_KEY_CODES or code in _DENIED_CODES or status in (401, 403):
            return ConfigurationError(f"storage access refused ({label})", variable=access_key_variable)
        return StorageError(f"storage error ({label})")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return ConfigurationError(f"storage credentials missing ({type(exc).__name__})",
                                  variable=access_key_variable)
    if isinstance(exc, BotoCoreError):
        return StorageError(f"storage unreachable ({type(exc).__name__})")
    return StorageError(f"storage error ({type(exc).__name__})")


class S3DocumentStore:
    """Documents in an S3 bucket (or any S3-compatible store).

    Args:
        bucket: the bucket name.
        client: a boto3 ``s3`` client; when None one is built on first use with
            ``region_name`` / ``endpoint_url``, the default credential chain (the Lambda role),
            standard retry mode (``max_attempts=3``, i.e. 3 retries) and 5 s connect / 30 s read
            timeouts.
        region_name: AWS region for the built client (None: from the environment).
        endpoint_url: endpoint for the built client (None: AWS's); a custom endpoint is
            addressed path-style (``https://host/bucket/key``).

    Errors: see :func:`_map_client_error`; :meth:`get` also raises
    :class:`DocumentTooLarge`. The client is thread-safe once built (botocore clients are),
    and building it is guarded by a lock, so one store can serve concurrent fetches.
    """

    #: Environment variables named in ConfigurationError for credential problems.
    _access_key_variable: str | None = None
    _secret_key_variable: str | None = None

    def __init__(self, bucket: str, *, client: Any = None, region_name: str | None = None,
                 endpoint_url: str | None = None) -> None:
        if not bucket:
            raise ConfigurationError("document bucket name is empty", variable="LEADEVAL_DOCUMENTS_URL")
        self.bucket = bucket
        self._client = client
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bucket={self.bucket!r})"

    @property
    def client(self) -> Any:
        """The boto3 S3 client (built on first access when none was given)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build_client()
        return self._client

    def _build_client(self) -> Any:
        # A custom endpoint (moto server, MinIO) is addressed path-style: no bucket subdomain needed.
        config = aws.client_config(s3={"addressing_style": "path"} if self._endpoint_url else None)
        return aws.client("s3", region_name=self._region_name, endpoint_url=self._endpoint_url, config=config)

    def _error(self, exc: BaseException) -> LeadevalError:
        mapped = _map_client_error(exc, access_key_variable=self._access_key_variable,
                                   secret_key_variable=self._secret_key_variable)
        if not isinstance(mapped, DocumentMissing):
            logger.warning("document store call failed",
                           extra={"store": type(self).__name__, "error_code": mapped.code,
                                  "cause": mapped.message})
        return mapped

    def get(self, key: str, *, max_bytes: int) -> bytes:
        """The object's bytes (at most ``max_bytes`` bytes).

        ``GetObject`` is sent, and its ``ContentLength`` checked before the body is read: a
        larger object's stream is closed unread. Without a ``ContentLength`` at most
        ``max_bytes + 1`` bytes are read. The stream is always closed.

        Raises:
            DocumentMissing: no such object (``NoSuchKey`` / 404), or an empty key.
            DocumentTooLarge: larger than ``max_bytes`` (``size`` = ``ContentLength`` if known).
            ThrottledError, StorageError, ConfigurationError: see :func:`_map_client_error`.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        if not key:
            raise DocumentMissing("invalid storage key")
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from exc
        body = response["Body"]
        try:
            length = response.get("ContentLength")
            if length is not None and int(length) > max_bytes:
                raise DocumentTooLarge(f"object is {length} bytes, limit {max_bytes}", size=int(length))
            data = body.read(max_bytes + 1)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from exc
        finally:
            try:
                body.close()
            except Exception:  # closing a broken stream must not hide the real outcome
                logger.debug("closing the object stream failed", exc_info=True)
        if len(data) > max_bytes:
            raise DocumentTooLarge(f"object is larger than the limit {max_bytes}", size=None)
        return data

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """``PutObject`` ``data`` under ``key`` with ``ContentType`` when given.

        Raises:
            ThrottledError, StorageError, ConfigurationError: see :func:`_map_client_error`.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": data}
        if content_type:
            params["ContentType"] = content_type
        try:
            self.client.put_object(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from exc


def r2_endpoint(account_id: str) -> str:
    """The R2 S3 API endpoint of an account: ``https://<ACCOUNT_ID>.r2.cloudflarestorage.com``.

    Raises:
        ConfigurationError: the account id is empty or not a DNS label
            (variable ``CLOUDFLARE_ACCOUNT_ID``).
    """
    if not account_id or not _ACCOUNT_ID.match(account_id):
        raise ConfigurationError("Cloudflare account id is missing or malformed",
                                 variable="CLOUDFLARE_ACCOUNT_ID")
    return f"https://{account_id}.r2.cloudflarestorage.com"


def r2_client(account_id: str, access_key_id: str, secret_access_key: str) -> Any:
    """A boto3 ``s3`` client for Cloudflare R2 with R2's required settings on this client only.

    ``endpoint_url`` = :func:`r2_endpoint`, ``region_name="auto"``, explicit R2 credentials
    (never the Lambda role's: no session token is used), and the shared client configuration
    (:func:`leadeval.adapters.aws.client_config`) with ``signature_version="s3v4"``,
    ``request_checksum_calculation="when_required"``, ``response_checksum_validation="when_required"``,
    ``s3={"addressing_style": "path"}``. ``when_required`` keeps boto3 >= 1.36 from sending ``aws-chunked``
    uploads with ``x-amz-trailer`` / ``x-amz-checksum-*`` headers, which R2 rejects (Cloudflare R2 docs,
    "S3 API compatibility": checksum trailers are not supported).
    Path-style addressing keeps the host ``<ACCOUNT_ID>.r2.cloudflarestorage.com``.
    botocore reads the legacy ``max_attempts`` key as *retries*: 4 attempts in all.

    Raises:
        ConfigurationError: a credential or the account id is empty (names the variable).
    """
    endpoint = r2_endpoint(account_id)
    if not access_key_id:
        raise ConfigurationError("R2 access key id is empty", variable="R2_ACCESS_KEY_ID")
    if not secret_access_key:
        raise ConfigurationError("R2 secret access key is empty", variable="R2_SECRET_ACCESS_KEY")

    config = aws.client_config(
        signature_version="s3v4",
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"},
    )
    return aws.client(
        "s3",
        endpoint_url=endpoint,
        region_name="auto",
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=None,
        config=config,
    )


class R2DocumentStore(S3DocumentStore):
    """Documents in a Cloudflare R2 bucket (S3 API through boto3, client from :func:`r2_client`).

    Args:
        bucket: the R2 bucket name.
        account_id: Cloudflare account id (``CLOUDFLARE_ACCOUNT_ID``).
        access_key_id / secret_access_key: the R2 API token's key pair (``R2_ACCESS_KEY_ID`` /
            ``R2_SECRET_ACCESS_KEY``); required unless ``client`` is given.
        client: a ready client (tests); when None, :func:`r2_client` builds one on first use.

    Credential errors name ``R2_ACCESS_KEY_ID`` (``AccessDenied``, ``InvalidAccessKeyId``)
    or ``R2_SECRET_ACCESS_KEY`` (``SignatureDoesNotMatch``).

    Raises:
        ConfigurationError: at construction, when a credential or the account id is missing.
    """

    _access_key_variable = "R2_ACCESS_KEY_ID"
    _secret_key_variable = "R2_SECRET_ACCESS_KEY"

    def __init__(self, bucket: str, *, account_id: str, access_key_id: str | None = None,
                 secret_access_key: str | None = None, client: Any = None) -> None:
        endpoint = r2_endpoint(account_id)
        if client is None:
            if not access_key_id:
                raise ConfigurationError("R2 access key id is empty", variable="R2_ACCESS_KEY_ID")
            if not secret_access_key:
                raise ConfigurationError("R2 secret access key is empty", variable="R2_SECRET_ACCESS_KEY")
        super().__init__(bucket, client=client, region_name="auto", endpoint_url=endpoint)
        self.account_id = account_id
        self._access_key_id = access_key_id or ""
        self._secret_access_key = secret_access_key or ""

    def __repr__(self) -> str:  # never shows the credentials
        return f"R2DocumentStore(bucket={self.bucket!r}, account_id={self.account_id!r})"

    def _build_client(self) -> Any:
        return r2_client(self.account_id, self._access_key_id, self._secret_access_key)
