"""Object storage as a job's input and output: `s3://bucket/key` on AWS S3 or any S3-compatible server.

Reading: FFmpeg reads through a seekable file object that asks for bounded byte ranges (objectreader.py), so a
segment downloads about the part of the object it decodes, and no credential reaches FFmpeg. Writing: finalize writes the output to the work
directory, checks it, then uploads it with a multipart upload; the object appears under its key only when the upload
completes, and a failed upload is aborted (the MinIO client does both).

Settings come from the standard AWS variables: `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (default: AWS),
`AWS_REGION` or `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), or workload
identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, as EKS IRSA sets them, or the EKS Pod Identity agent's
`AWS_CONTAINER_CREDENTIALS_FULL_URI`). `VIDEOJOB_S3_PART_SIZE`: bytes per uploaded part (default 64 MiB).
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from .errors import BadInputError, TransientError

if TYPE_CHECKING:
    from minio import Minio

    from .objectreader import ObjectReader

SCHEME = "s3://"
MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's smallest part (all but the last)
DEFAULT_PART_SIZE = 64 * MIB
T = TypeVar("T")
# Workload identity: EKS IRSA (a projected token exchanged with STS) or the EKS Pod Identity agent.
IDENTITY_VARS = (
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)
CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", *IDENTITY_VARS)


@dataclass(frozen=True)
class ObjectURL:
    """`s3://bucket/key`: an object in the store the environment names."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.key).suffix


Media = Path | ObjectURL


def is_object_url(value: object) -> bool:
    return isinstance(value, ObjectURL) or (isinstance(value, str) and value.startswith(SCHEME))


def parse_object_url(text: str) -> ObjectURL:
    bucket, _, key = text[len(SCHEME) :].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise BadInputError(f"{text} is not an object URL; write s3://BUCKET/KEY, e.g. s3://media/in/clip.mp4")
    return ObjectURL(bucket, key)


def as_media(value: Path | str | ObjectURL) -> Media:
    """A local path, or the object an `s3://` URL names (a Path would fold its `//`)."""
    if isinstance(value, ObjectURL | Path):
        return value
    return parse_object_url(value) if is_object_url(value) else Path(value)


@dataclass(frozen=True)
class Settings:
    endpoint: str  # host[:port]
    secure: bool
    region: str | None
    part_size: int
    workload_identity: bool
    # A digest of the credential variables: a client (which keeps its credentials) is made anew when they change.
    credentials: str = ""

    @property
    def where(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"


def settings_from_env(env: Mapping[str, str] = os.environ) -> Settings:
    url = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or "https://s3.amazonaws.com"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise BadInputError(
            f"AWS_ENDPOINT_URL {url!r} is not an endpoint; give scheme://host[:port], e.g. http://minio:9000"
        )
    raw_part = env.get("VIDEOJOB_S3_PART_SIZE", "").strip()
    part_size = int(raw_part) if raw_part.isdigit() else DEFAULT_PART_SIZE
    if raw_part and (not raw_part.isdigit() or part_size < MIN_PART_SIZE):
        raise BadInputError(f"VIDEOJOB_S3_PART_SIZE {raw_part!r} must be a number of bytes, at least {MIN_PART_SIZE}")
    identity = any(env.get(k) for k in IDENTITY_VARS)
    creds = "\0".join(env.get(k, "") for k in CREDENTIAL_VARS)
    return Settings(
        endpoint=parts.netloc,
        secure=parts.scheme == "https",
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        part_size=part_size,
        workload_identity=identity,
        credentials=hashlib.sha256(creds.encode()).hexdigest(),
    )


@functools.cache  # one client per setting, kept: a dropped one would leave its pooled connections open
def _client(settings: Settings) -> Minio:
    import certifi
    import urllib3
    from minio import Minio
    from minio.credentials import ChainedProvider, EnvAWSProvider, IamAwsProvider

    # Workload identity only when the pod was given it: IamAwsProvider would otherwise ask the EC2 metadata address.
    providers = [EnvAWSProvider(), *([IamAwsProvider()] if settings.workload_identity else [])]
    # As the client's own default, with shorter timeouts and fewer retries (an unreachable endpoint is one line in
    # seconds, not minutes): certificates checked against SSL_CERT_FILE, else certifi's bundle.
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=10, read=120),
        retries=urllib3.Retry(total=3, backoff_factor=0.5, status_forcelist=[500, 502, 503, 504]),
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )
    return Minio(
        settings.endpoint,
        secure=settings.secure,
        region=settings.region,
        credentials=ChainedProvider(providers),
        http_client=http,
    )


def client() -> Minio:
    return _client(settings_from_env())


def call(what: str, obj: ObjectURL, fn: Callable[[], T]) -> T:
    """`fn()`, its failure told in one line: what was asked, of which object, at which endpoint, and why."""
    from minio.error import InvalidResponseError, S3Error, ServerError
    from urllib3.exceptions import HTTPError, NewConnectionError

    where = settings_from_env().where
    try:
        return fn()
    except S3Error as exc:
        raise _explain(exc.code or "", what, obj, where, exc.message or "") from None
    except InvalidResponseError as exc:
        raise BadInputError(f"{what} {obj}: {where} is not an S3 endpoint ({exc})") from None
    except ServerError as exc:
        raise TransientError(f"{what} {obj}: {where} failed ({exc.status_code}); retry later") from None
    except (HTTPError, OSError) as exc:
        # Connection refused, name not resolved, a connection lost: the endpoint may come back; a retry can help.
        reason = getattr(exc, "reason", None) or exc
        if "CERTIFICATE_VERIFY_FAILED" in str(reason):  # a configuration fault: retrying cannot help
            raise BadInputError(
                f"{what} {obj}: the TLS certificate of {where} is not trusted ({_short(reason)}); "
                "set SSL_CERT_FILE to the CA bundle that signed it"
            ) from None
        if isinstance(reason, NewConnectionError):  # refused, or the name does not resolve
            raise TransientError(f"{what} {obj}: cannot reach {where} ({_short(reason)})") from None
        raise TransientError(f"{what} {obj}: the connection to {where} failed ({_short(reason)}); retry") from None
    except ValueError as exc:
        if "credentials" not in str(exc):  # the client's own checks: an invalid bucket or key name
            raise BadInputError(f"{what} {obj}: {exc}") from None
        raise BadInputError(  # the MinIO client's "All providers fail to fetch credentials"
            f"{what} {obj}: no S3 credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or give the workers a service account with workload identity"
        ) from None


def _short(reason: object) -> str:
    text = " ".join(str(reason).split())
    # urllib3 wraps the errno text in the connection's repr; keep what a person reads.
    return text.split(": ", 1)[1] if text.startswith("<") and ": " in text else text


def _explain(code: str, what: str, obj: ObjectURL, where: str, message: str) -> BadInputError:
    if code in ("NoSuchKey", "ResourceNotFound"):
        return BadInputError(f"{what} {obj}: no such object in bucket {obj.bucket} at {where}")
    if code == "NoSuchBucket":
        return BadInputError(f"{what} {obj}: bucket {obj.bucket} does not exist at {where}")
    if code == "PreconditionFailed":  # If-Match: the object is no longer the one the job started with
        return BadInputError(f"{what} {obj} changed while the job read it; plan the job again")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
        return BadInputError(
            f"{what} {obj}: {where} refused the credentials ({code}); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if code == "AccessDenied":
        return BadInputError(f"{what} {obj}: access denied at {where}; check the credentials and the bucket's policy")
    return BadInputError(f"{what} {obj}: {where} answered {code or 'an error'}: {' '.join(message.split())}")


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str


def stat(obj: ObjectURL) -> ObjectInfo:
    """Size and ETag of the object; a missing one is told apart from a missing bucket."""
    try:
        found = call("input", obj, lambda: client().stat_object(obj.bucket, obj.key))
    except BadInputError as exc:
        if "no such object" in str(exc):
            check_bucket(obj, "input")
        elif "access denied" in str(exc):
            _why_denied(obj, "input", lambda: client().get_object(obj.bucket, obj.key, 0, 1).close())
        raise
    return ObjectInfo(size=int(found.size or 0), etag=str(found.etag or ""))


def size_if_present(obj: ObjectURL) -> int | None:
    try:
        return stat(obj).size
    except BadInputError as exc:
        if "no such object" in str(exc):
            return None
        raise


def check_bucket(obj: ObjectURL, what: str = "output") -> None:
    """The bucket exists and the credentials are accepted (one request, before any work)."""
    try:
        found = call(what, obj, lambda: client().bucket_exists(obj.bucket))
    except BadInputError as exc:
        if "access denied" in str(exc):
            _why_denied(obj, what, lambda: next(iter(client().list_objects(obj.bucket, prefix=obj.key)), None))
        raise
    if not found:
        where = settings_from_env().where
        raise BadInputError(f"{what} {obj}: bucket {obj.bucket} does not exist at {where}; create it first")


def _why_denied(obj: ObjectURL, what: str, get: Callable[[], object]) -> None:
    """A HEAD request's 403 has no body, so no reason: the same question as a GET, whose error names it (a
    wrong key or secret, or a policy that denies). Raises that answer; returns if the GET is allowed after all."""
    call(what, obj, get)


def av_input(media: Path | str | ObjectURL) -> str | ObjectReader:
    """What `av.open` is given for the input: the file's path, or a reader of the object (objectreader.py)."""
    from .objectreader import ObjectReader

    media = as_media(media)
    if isinstance(media, Path):
        return str(media)
    info = stat(media)
    return ObjectReader(media, info.size, info.etag)


def upload(local: Path, obj: ObjectURL) -> str:
    """Publish `local` as `obj` with a multipart upload (parts of VIDEOJOB_S3_PART_SIZE); returns the ETag.

    Nothing is visible under the key until the upload completes; on failure the client aborts the upload, so no
    part is left behind either.
    """
    part_size = settings_from_env().part_size
    content_type = mimetypes.guess_type(obj.key)[0] or "application/octet-stream"
    result = call(
        "output",
        obj,
        lambda: client().fput_object(obj.bucket, obj.key, str(local), content_type=content_type, part_size=part_size),
    )
    return str(result.etag or "")
