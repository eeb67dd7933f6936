"""Contract suite for the DocumentStore adapters: local directory, S3 (moto), R2 (moto with a
custom endpoint), plus R2's wire format and the botocore error mapping (Stubber)."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.stub import Stubber
from moto import mock_aws

from leadeval.adapters.storage.local import LocalDocumentStore
from leadeval.adapters.storage.s3 import R2DocumentStore, S3DocumentStore, r2_client
from leadeval.errors import (
    ConfigurationError,
    DocumentMissing,
    DocumentTooLarge,
    StorageError,
    ThrottledError,
)

ACCOUNT = "0123456789abcdef0123456789abcdef"
R2_ENDPOINT = f"https://{ACCOUNT}.r2.cloudflarestorage.com"
R2_HOST = f"{ACCOUNT}.r2.cloudflarestorage.com"
BUCKET = "leadeval-docs"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake AWS credentials and no endpoint overrides, so nothing can reach a real account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN",
                 "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@dataclass
class Backend:
    """A store under test plus a spy telling whether an object body was opened/read."""

    name: str
    store: Any
    reads: list[str] = field(default_factory=list)
    closes: list[str] = field(default_factory=list)


class _BodySpy:
    """Wraps a botocore StreamingBody and records read() / close() calls."""

    def __init__(self, body: Any, backend: Backend) -> None:
        self._body, self._backend = body, backend

    def read(self, amt: int | None = None) -> bytes:
        self._backend.reads.append(f"read({amt})")
        return self._body.read(amt)

    def close(self) -> None:
        self._backend.closes.append("close")
        self._body.close()


def _spy_on_bodies(client: Any, backend: Backend) -> None:
    def wrap(parsed: dict[str, Any], **_: Any) -> None:
        if "Body" in parsed:
            parsed["Body"] = _BodySpy(parsed["Body"], backend)

    client.meta.events.register("after-call.s3.GetObject", wrap)


@pytest.fixture(params=["local", "s3", "r2"])
def backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
            aws_env: None) -> Iterator[Backend]:
    kind = request.param
    if kind == "local":
        b = Backend(kind, LocalDocumentStore(tmp_path / "docs"))
        original_open = pathlib.Path.open

        def spy_open(self: pathlib.Path, *args: Any, **kwargs: Any) -> Any:
            b.reads.append(f"open({self.name})")
            return original_open(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, "open", spy_open)
        yield b
        return
    if kind == "r2":  # must be set before mock_aws starts routing requests
        monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", R2_ENDPOINT)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        if kind == "s3":
            store: Any = S3DocumentStore(BUCKET, region_name="us-east-1")
        else:
            store = R2DocumentStore(BUCKET, account_id=ACCOUNT, access_key_id="r2-key-id",
                                    secret_access_key="r2-secret")
        b = Backend(kind, store)
        _spy_on_bodies(store.client, b)
        yield b


# --------------------------------------------------------------------------- contract


def test_round_trip(backend: Backend) -> None:
    key = "site-1/lead-1/doc-1.pdf"
    backend.store.put(key, PDF, content_type="application/pdf")
    assert backend.store.get(key, max_bytes=len(PDF)) == PDF  # exactly at the limit is allowed


def test_put_overwrites(backend: Backend) -> None:
    backend.store.put("site-1/a.txt", b"first")
    backend.store.put("site-1/a.txt", b"second")
    assert backend.store.get("site-1/a.txt", max_bytes=100) == b"second"


def test_empty_object_round_trips(backend: Backend) -> None:
    backend.store.put("site-1/empty.bin", b"")
    assert backend.store.get("site-1/empty.bin", max_bytes=10) == b""


@pytest.mark.parametrize("key", ["site-1/nope.pdf", ""])
def test_missing_object(backend: Backend, key: str) -> None:
    backend.store.put("site-1/other.pdf", PDF)
    with pytest.raises(DocumentMissing):
        backend.store.get(key, max_bytes=1_000_000)


def test_too_large_is_refused_before_reading_the_body(backend: Backend) -> None:
    backend.store.put("site-1/big.pdf", PDF)
    backend.reads.clear()
    with pytest.raises(DocumentTooLarge) as caught:
        backend.store.get("site-1/big.pdf", max_bytes=len(PDF) - 1)
    assert caught.value.size == len(PDF)
    assert backend.reads == []  # never opened (local) / body never read (S3, R2)
    if backend.name != "local":
        assert backend.closes == ["close"]  # the unread stream is closed


@pytest.mark.parametrize("backend", ["s3", "r2"], indirect=True)
def test_successful_get_reads_at_most_limit_plus_one(backend: Backend) -> None:
    backend.store.put("site-1/doc.pdf", PDF)
    backend.reads.clear()
    assert backend.store.get("site-1/doc.pdf", max_bytes=5000) == PDF
    assert backend.reads == ["read(5001)"]
    assert backend.closes == ["close"]


# --------------------------------------------------------------------------- local only


@pytest.mark.parametrize("key", [
    "../outside.txt", "a/../../outside.txt", "a/../b.txt", "/etc/passwd", "..\\outside.txt",
    "C:\\Windows\\win.ini", "C:outside.txt", "\\\\server\\share\\x", "nul\x00byte",
])
def test_local_refuses_keys_escaping_root(tmp_path: pathlib.Path, key: str) -> None:
    (tmp_path / "outside.txt").write_bytes(b"secret")
    store = LocalDocumentStore(tmp_path / "docs")
    with pytest.raises(DocumentMissing):
        store.get(key, max_bytes=100)
    with pytest.raises(DocumentMissing):
        store.put(key, b"x")
    assert (tmp_path / "outside.txt").read_bytes() == b"secret"


def test_local_refuses_symlink_out_of_root(tmp_path: pathlib.Path) -> None:
    (tmp_path / "outside.txt").write_bytes(b"secret")
    root = tmp_path / "docs"
    root.mkdir()
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    (root / "inner.txt").write_bytes(b"inside")
    (root / "inner-link.txt").symlink_to(root / "inner.txt")
    store = LocalDocumentStore(root)
    with pytest.raises(DocumentMissing):
        store.get("link.txt", max_bytes=100)
    assert store.get("inner-link.txt", max_bytes=100) == b"inside"  # a link inside root is fine


def test_local_directory_is_missing(tmp_path: pathlib.Path) -> None:
    (tmp_path / "site-1").mkdir()
    with pytest.raises(DocumentMissing):
        LocalDocumentStore(tmp_path).get("site-1", max_bytes=100)


def test_local_os_error_is_storage_error(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalDocumentStore(tmp_path)
    store.put("a.pdf", PDF)

    def denied(self: pathlib.Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pathlib.Path, "open", denied)
    with pytest.raises(StorageError):
        store.get("a.pdf", max_bytes=len(PDF))


def test_local_put_leaves_no_temporary_files(tmp_path: pathlib.Path) -> None:
    store = LocalDocumentStore(tmp_path)
    store.put("s/l/a.pdf", PDF)
    assert sorted(p.name for p in (tmp_path / "s" / "l").iterdir()) == ["a.pdf"]


# --------------------------------------------------------------------------- R2 wire format


def _record_requests(client: Any) -> list[tuple[str, str, dict[str, str]]]:
    seen: list[tuple[str, str, dict[str, str]]] = []

    def hook(request: Any, event_name: str, **_: Any) -> None:
        headers = {k.lower(): (v.decode() if isinstance(v, bytes) else str(v))
                   for k, v in request.headers.items()}
        seen.append((event_name.rsplit(".", 1)[-1], request.url, headers))

    # register_first: moto answers in a before-send handler too, and the first answer wins.
    client.meta.events.register_first("before-send.s3.*", hook)
    return seen


def _checksum_headers(headers: dict[str, str]) -> list[str]:
    return [k for k in headers if k.startswith("x-amz-checksum-") or k in ("x-amz-trailer",
                                                                          "x-amz-sdk-checksum-algorithm")]


@pytest.fixture
def r2_moto(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", R2_ENDPOINT)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "lambda-role-session-token")  # as in a Lambda
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


def _r2_store() -> R2DocumentStore:
    return R2DocumentStore(BUCKET, account_id=ACCOUNT, access_key_id="r2-key-id",
                           secret_access_key="r2-secret")


def test_r2_requests_carry_no_streaming_checksums(r2_moto: None) -> None:
    store = _r2_store()
    seen = _record_requests(store.client)
    store.put("site-1/doc.pdf", PDF, content_type="application/pdf")
    assert store.get("site-1/doc.pdf", max_bytes=len(PDF)) == PDF

    assert [op for op, _, _ in seen] == ["PutObject", "GetObject"]
    for _op, url, headers in seen:
        assert url.startswith(f"https://{R2_HOST}/{BUCKET}/")  # path style on the account host
        assert _checksum_headers(headers) == []
        assert not headers["x-amz-content-sha256"].startswith("STREAMING-")
        assert "content-encoding" not in headers or "aws-chunked" not in headers["content-encoding"]
        # the R2 key pair signs, in region "auto"; the Lambda role's session token never leaks
        assert "Credential=r2-key-id/" in headers["authorization"]
        assert "/auto/s3/aws4_request" in headers["authorization"]
        assert "x-amz-security-token" not in headers


def test_default_boto3_client_would_send_streaming_checksums(r2_moto: None) -> None:
    """Control for the test above: without R2's client settings, boto3 >= 1.36 sends the
    aws-chunked trailer form that R2 rejects — so the wire check can fail."""
    plain = boto3.client("s3", endpoint_url=R2_ENDPOINT, region_name="auto",
                         aws_access_key_id="k", aws_secret_access_key="s")
    seen = _record_requests(plain)
    plain.put_object(Bucket=BUCKET, Key="x", Body=PDF)
    (_, _, headers), = seen
    assert headers["x-amz-content-sha256"].startswith("STREAMING-")
    assert _checksum_headers(headers)


def test_r2_client_settings() -> None:
    client = r2_client(ACCOUNT, "r2-key-id", "r2-secret")
    config = client.meta.config
    assert client.meta.endpoint_url == R2_ENDPOINT
    assert client.meta.region_name == "auto"
    assert config.signature_version == "s3v4"
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    # botocore reads max_attempts as retries: 1 try + 3 retries
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert (config.connect_timeout, config.read_timeout) == (5, 30)
    credentials = client._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key) == ("r2-key-id", "r2-secret")
    assert credentials.token is None


@pytest.mark.parametrize(("endpoint", "style"), [(None, None), ("http://127.0.0.1:5000", "path")])
def test_s3_store_builds_its_client_lazily(aws_env: None, endpoint: str | None, style: str | None) -> None:
    store = S3DocumentStore(BUCKET, region_name="eu-west-1", endpoint_url=endpoint)
    assert store._client is None  # nothing built by the constructor
    client = store.client
    assert store.client is client
    assert client.meta.region_name == "eu-west-1"
    assert (client.meta.config.s3 or {}).get("addressing_style") == style
    if endpoint:
        assert client.meta.endpoint_url == endpoint


@pytest.mark.parametrize(("kwargs", "variable"), [
    ({"account_id": ACCOUNT, "access_key_id": "", "secret_access_key": "s"}, "R2_ACCESS_KEY_ID"),
    ({"account_id": ACCOUNT, "access_key_id": "k", "secret_access_key": None}, "R2_SECRET_ACCESS_KEY"),
    ({"account_id": "", "access_key_id": "k", "secret_access_key": "s"}, "CLOUDFLARE_ACCOUNT_ID"),
    ({"account_id": "evil.example.com/x", "access_key_id": "k", "secret_access_key": "s"},
     "CLOUDFLARE_ACCOUNT_ID"),
])
def test_r2_store_refuses_incomplete_configuration(kwargs: dict[str, Any], variable: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        R2DocumentStore(BUCKET, **kwargs)
    assert caught.value.variable == variable


def test_r2_store_repr_hides_credentials() -> None:
    store = _r2_store()
    assert "r2-secret" not in repr(store) and "r2-key-id" not in repr(store)


# --------------------------------------------------------------------------- error mapping


def _stubbed_store(kind: str) -> tuple[Any, Stubber]:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    store: Any = (S3DocumentStore(BUCKET, client=client) if kind == "s3"
                  else R2DocumentStore(BUCKET, account_id=ACCOUNT, client=client))
    return store, Stubber(client)


@pytest.mark.parametrize("kind", ["s3", "r2"])
@pytest.mark.parametrize(("code", "status", "expected", "variables"), [
    ("NoSuchKey", 404, DocumentMissing, None),
    ("SlowDown", 503, ThrottledError, None),
    ("", 429, ThrottledError, None),
    ("RequestLimitExceeded", 400, ThrottledError, None),
    ("InternalError", 500, StorageError, None),
    ("ServiceUnavailable", 503, StorageError, None),
    ("InvalidObjectState", 400, StorageError, None),
    ("AccessDenied", 403, ConfigurationError, {"s3": None, "r2": "R2_ACCESS_KEY_ID"}),
    ("InvalidAccessKeyId", 403, ConfigurationError, {"s3": None, "r2": "R2_ACCESS_KEY_ID"}),
    ("SignatureDoesNotMatch", 403, ConfigurationError, {"s3": None, "r2": "R2_SECRET_ACCESS_KEY"}),
    ("NoSuchBucket", 404, ConfigurationError,
     {"s3": "LEADEVAL_DOCUMENTS_URL", "r2": "LEADEVAL_DOCUMENTS_URL"}),
    ("NotImplemented", 501, ConfigurationError, {"s3": None, "r2": "R2_ACCESS_KEY_ID"}),
])
def test_get_error_mapping(kind: str, code: str, status: int, expected: type[Exception],
                           variables: dict[str, str | None] | None) -> None:
    store, stubber = _stubbed_store(kind)
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status,
                             expected_params={"Bucket": BUCKET, "Key": "site-1/doc.pdf"})
    with stubber, pytest.raises(expected) as caught:
        store.get("site-1/doc.pdf", max_bytes=1000)
    stubber.assert_no_pending_responses()
    assert type(caught.value) is expected
    if variables is not None:
        assert caught.value.variable == variables[kind]  # type: ignore[attr-defined]
    if expected is ThrottledError:
        assert caught.value.retry_after == 5.0  # type: ignore[attr-defined]


def test_throttle_honours_retry_after_header() -> None:
    store, stubber = _stubbed_store("r2")
    stubber.add_client_error("get_object", service_error_code="TooManyRequests", http_status_code=429,
                             response_meta={"HTTPHeaders": {"retry-after": "17"}})
    with stubber, pytest.raises(ThrottledError) as caught:
        store.get("k", max_bytes=10)
    assert caught.value.retry_after == 17.0


def test_put_error_mapping() -> None:
    store, stubber = _stubbed_store("s3")
    stubber.add_client_error("put_object", service_error_code="SlowDown", http_status_code=503,
                             expected_params={"Bucket": BUCKET, "Key": "k", "Body": b"x",
                                              "ContentType": "text/plain"})
    with stubber, pytest.raises(ThrottledError):
        store.put("k", b"x", content_type="text/plain")


class _FakeBody:
    def __init__(self, data: bytes = b"", error: Exception | None = None) -> None:
        self.data, self.error, self.amounts, self.closed = data, error, [], False

    def read(self, amt: int | None = None) -> bytes:
        self.amounts.append(amt)
        if self.error:
            raise self.error
        return self.data[:amt]

    def close(self) -> None:
        self.closed = True


class _FakeClient:
    def __init__(self, *, error: Exception | None = None, response: dict[str, Any] | None = None) -> None:
        self.error, self.response = error, response

    def get_object(self, **_: Any) -> dict[str, Any]:
        if self.error:
            raise self.error
        assert self.response is not None
        return self.response


@pytest.mark.parametrize(("error", "expected"), [
    (EndpointConnectionError(endpoint_url=R2_ENDPOINT), StorageError),
    (ConnectTimeoutError(endpoint_url=R2_ENDPOINT), StorageError),
    (ReadTimeoutError(endpoint_url=R2_ENDPOINT), StorageError),
    (ConnectionClosedError(endpoint_url=R2_ENDPOINT), StorageError),
    (NoCredentialsError(), ConfigurationError),
])
def test_connection_errors_are_mapped(error: Exception, expected: type[Exception]) -> None:
    store = S3DocumentStore(BUCKET, client=_FakeClient(error=error))
    with pytest.raises(expected) as caught:
        store.get("k", max_bytes=10)
    assert caught.value.__cause__ is error


def test_timeout_while_reading_body_is_storage_error_and_closes() -> None:
    body = _FakeBody(error=ReadTimeoutError(endpoint_url=R2_ENDPOINT))
    store = S3DocumentStore(BUCKET, client=_FakeClient(response={"Body": body, "ContentLength": 5}))
    with pytest.raises(StorageError):
        store.get("k", max_bytes=10)
    assert body.closed


def test_without_content_length_reads_at_most_limit_plus_one() -> None:
    body = _FakeBody(data=b"x" * 50)
    store = S3DocumentStore(BUCKET, client=_FakeClient(response={"Body": body}))
    with pytest.raises(DocumentTooLarge) as caught:
        store.get("k", max_bytes=20)
    assert body.amounts == [21] and body.closed
    assert caught.value.size is None


def test_importing_the_adapters_loads_no_heavy_library() -> None:
    code = ("import sys, leadeval.adapters.storage.local, leadeval.adapters.storage.s3;"
            "print(sorted(m for m in ('boto3', 'botocore', 'PIL', 'pypdf') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=pathlib.Path(__file__).resolve().parents[2],
                         env={"PYTHONPATH": "layers/leadeval", "PATH": ""})
    assert out.stdout.strip() == "[]"
