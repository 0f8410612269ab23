"""S3 requests signed here (Signature Version 4) and sent over ``http.py``'s pool, for a
location whose credentials and endpoint are plain: botocore's import and client set-up cost
a command ~0.3 s of CPU before its first request, as long as a small prune or fork takes.

``light_client`` returns a client answering the calls the S3 backend makes (listing pages,
HEAD, ranged GET, PUT, DeleteObjects, CopyObject) in botocore's shapes and errors, or None
where botocore is needed to sign as the user's configuration says (see ``docs/s3.md``):
then botocore is used for everything, as before. What the light client does not send itself
(multipart listings and aborts, s3transfer's transfers) goes to a botocore client made on
first use (``sdk``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from urllib.parse import quote, unquote_plus, urlsplit

from . import http
from .http import Backoff, RangedReader, content_range_total

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
FIRST_GET = 1024 * 1024  # bytes a read asks for first: a side file or a header needs no more
GET_CHUNK = 8 * 1024 * 1024
# Settings of a profile the light client honours; any other (a role, SSO, credential_process,
# addressing style, endpoint, CA bundle...) is botocore's to interpret.
PLAIN_CONFIG = frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region", "output"})
PLAIN_CREDENTIALS = frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                               "aws_security_token"})
# Error codes botocore's standard retry mode tries again whatever the status (a 400
# RequestTimeout: the server waited too long for the request's body), as it does.
RETRIED_CODES = frozenset({
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "Throttling", "ThrottlingException",
    "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "EC2ThrottledException"})
# Environment settings that change how botocore finds credentials or reaches S3.
BOTOCORE_ENVIRONMENT = ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
                        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


# -- listings: ListObjectsV2 pages parsed as botocore parses them -------------------------------
def timestamp(value: Any) -> datetime:
    """botocore's timestamp parsing, fast for ListObjects' ISO 8601 times: botocore hands
    each to dateutil, a third of the time of a 3,000-object listing."""
    try:
        return datetime.fromisoformat(value)  # 2026-05-01T12:00:03.000Z
    except (TypeError, ValueError):
        from botocore.utils import parse_timestamp

        return parse_timestamp(value)  # HTTP dates in headers, epoch numbers


# What botocore gives for a ListObjectsV2 page, for the fields it may hold besides objects.
_PAGE_FIELDS: dict[str, Any] = {
    "IsTruncated": lambda text: text == "true", "KeyCount": int, "MaxKeys": int, "Name": str, "Prefix": str,
    "Delimiter": str, "EncodingType": str, "ContinuationToken": str, "NextContinuationToken": str,
    "StartAfter": str,
}
_URL_ENCODED = ("Prefix", "Delimiter", "StartAfter")  # with encoding-type=url, besides keys


def listing_page(body: bytes, url_encoded: bool = False) -> dict[str, Any]:
    """A ListObjectsV2 page as botocore parses it (objects: key, size, time, ETag); ``url_encoded``:
    keys and prefixes decoded where the page says they are URL-encoded (``encoding-type=url``
    asked), as botocore decodes them."""
    from xml.etree import ElementTree

    root = ElementTree.fromstring(body)
    decode: Callable[[str], str] = str
    if url_encoded and any(node.tag.rpartition("}")[2] == "EncodingType" and node.text == "url" for node in root):
        decode = unquote_plus
    page: dict[str, Any] = {}
    contents: list[dict[str, Any]] = []
    prefixes: list[dict[str, str]] = []
    for node in root:
        tag = node.tag.rpartition("}")[2]
        if tag == "Contents":
            fields = {child.tag.rpartition("}")[2]: child.text or "" for child in node}
            contents.append({"Key": decode(fields["Key"]), "Size": int(fields["Size"]),
                             "LastModified": timestamp(fields["LastModified"]), "ETag": fields.get("ETag", "")})
        elif tag == "CommonPrefixes":
            prefixes.extend({"Prefix": decode(child.text or "")} for child in node)
        elif tag in _PAGE_FIELDS:
            value = _PAGE_FIELDS[tag](node.text or "")
            page[tag] = decode(value) if tag in _URL_ENCODED else value
    if contents:
        page["Contents"] = contents
    if prefixes:
        page["CommonPrefixes"] = prefixes
    return page


# -- when the light client may sign -------------------------------------------------------------
class Credentials:
    """Static keys, and a session token where there is one."""

    def __init__(self, access_key: str, secret_key: str, token: str | None = None) -> None:
        self.access_key, self.secret_key, self.token = access_key, secret_key, token or None


class Settings:
    """What the light client needs: endpoint, signing region and static credentials."""

    def __init__(self, endpoint: str, region: str, credentials: Credentials) -> None:
        self.endpoint, self.region, self.credentials = endpoint.rstrip("/"), region, credentials


def _section(path_variable: str, default: str, *names: str) -> dict[str, str] | None:
    """The first of the sections ``names`` in the file the variable names (else ``default``),
    its settings by lowercase name; None where there is none (or no file)."""
    path = os.path.expanduser(os.environ.get(path_variable) or default)
    if not os.path.isfile(path):
        return None
    import configparser

    parser = configparser.RawConfigParser(strict=False)
    parser.read(path, encoding="utf-8")
    for name in names:
        if parser.has_section(name):
            return {key.lower(): value for key, value in parser.items(name)}
    return None


def _keys(section: dict[str, str]) -> Credentials | None:
    if section.get("aws_access_key_id") and section.get("aws_secret_access_key"):
        return Credentials(section["aws_access_key_id"], section["aws_secret_access_key"],
                           section.get("aws_session_token") or section.get("aws_security_token"))
    return None


def plain_settings(endpoint_url: str | None = None, profile: str | None = None) -> Settings | None:
    """The endpoint, region and static keys botocore would use, where it would find them the
    plain way: an endpoint URL given (argument, ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``),
    keys from the environment or the profile's static keys, and nothing else configured that
    botocore interprets. None otherwise (and for anything unreadable): botocore decides."""
    environ = os.environ
    endpoint = endpoint_url or environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if not endpoint or urlsplit(endpoint).scheme not in ("http", "https") or any(
            environ.get(name) for name in BOTOCORE_ENVIRONMENT):
        return None
    named = profile or environ.get("AWS_DEFAULT_PROFILE") or environ.get("AWS_PROFILE")
    name = named or "default"
    try:
        config = _section("AWS_CONFIG_FILE", "~/.aws/config", f"profile {name}",
                          *(("default",) if name == "default" else ()))
        shared = _section("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", name)
    except Exception:  # noqa: BLE001 - a file configparser cannot read: botocore says what is wrong
        return None
    if (config is not None and not config.keys() <= PLAIN_CONFIG) or (
            shared is not None and not shared.keys() <= PLAIN_CREDENTIALS):
        return None
    if named and config is None and shared is None:
        return None  # botocore says the profile does not exist
    credentials: Credentials | None = None
    if profile is None:  # an explicit profile outranks the environment's keys, as in botocore
        access, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
        if bool(access) != bool(secret):
            return None  # botocore says which is missing
        if access and secret:
            credentials = Credentials(access, secret,
                                      environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN"))
    credentials = credentials or _keys(shared or {}) or _keys(config or {})
    if credentials is None:
        return None
    region = environ.get("AWS_DEFAULT_REGION") or (config or {}).get("region") or "us-east-1"
    return Settings(endpoint, region, credentials)


# -- Signature Version 4 --------------------------------------------------------------------------
def quote_key(key: str) -> str:
    """An object key as botocore writes it in a URL path (``/`` kept, all else but ``-._~`` escaped)."""
    return quote(key, safe="/~")


def quote_param(value: str) -> str:
    return quote(value, safe="-_.~")


def host_header(url: str) -> str:
    """The Host header botocore signs: the URL's host and port, a scheme's default port left out."""
    where = urlsplit(url)
    default = {"http": 80, "https": 443}[where.scheme]
    host = where.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return host if where.port in (None, default) else f"{host}:{where.port}"


class Signer:
    """Requests signed with SigV4 for S3, as botocore's ``S3SigV4Auth`` signs them: the path
    as sent (S3 paths are not normalised), the query sorted, every header but User-Agent."""

    def __init__(self, credentials: Credentials, region: str, service: str = "s3") -> None:
        self.credentials, self.region, self.service = credentials, region, service
        self._keys: dict[str, bytes] = {}

    def _key(self, day: str) -> bytes:
        if day not in self._keys:
            key = f"AWS4{self.credentials.secret_key}".encode()
            for part in (day, self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {day: key}
        return self._keys[day]

    def sign(self, method: str, url: str, headers: dict[str, str], payload: str = UNSIGNED_PAYLOAD,
             now: float | None = None) -> dict[str, str]:
        """``headers`` with Host, X-Amz-Date, X-Amz-Content-SHA256, the token and Authorization.
        ``url``'s path and query are already escaped, as they are sent."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        where = urlsplit(url)
        headers = {**headers, "Host": host_header(url), "X-Amz-Date": stamp, "X-Amz-Content-SHA256": payload}
        if self.credentials.token:
            headers["X-Amz-Security-Token"] = self.credentials.token
        signed = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()
                  if name.lower() != "user-agent"}
        names = ";".join(sorted(signed))
        # sorted by name, then value (as pairs: "a=" would sort after "a-b=" as text)
        query = "&".join(f"{name}={value}" for name, value in
                         sorted(pair.partition("=")[::2] for pair in where.query.split("&"))) if where.query else ""
        canonical = "\n".join([method, where.path or "/", query,
                               "".join(f"{name}:{signed[name]}\n" for name in sorted(signed)), names, payload])
        scope = f"{stamp[:8]}/{self.region}/{self.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._key(stamp[:8]), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.credentials.access_key}/{scope}, "
                                    f"SignedHeaders={names}, Signature={signature}")
        return headers


def escape(text: str) -> str:
    """``text`` as XML character data (xml.sax.saxutils' import costs a command 10 ms)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- the client -------------------------------------------------------------------------------------
class ClientError(http.ResponseError):
    """An error answer, shaped as botocore's ``ClientError`` (``response``: Error, ResponseMetadata)."""

    def __init__(self, status: int, code: str, message: str, operation: str) -> None:
        super().__init__(status, code, message)
        self.response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        self.operation_name = operation

    def __str__(self) -> str:
        return f"An error occurred ({self.error_code}) when calling the {self.operation_name} operation: " \
               f"{self.message}"


def _error_fields(body: bytes) -> dict[str, str]:
    """Code and Message of an S3 error document; {} for anything else."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return {}
    if root.tag.rpartition("}")[2] != "Error":
        return {}
    return {child.tag.rpartition("}")[2]: child.text or "" for child in root}


def _answer_error(operation: str) -> Callable[[Any], ClientError]:
    def error(answer: Any) -> ClientError:
        fields = _error_fields(answer.data) if answer.data else {}
        # botocore names an error without a document (HEAD's) by its status.
        code = fields.get("Code") or str(answer.status)
        return ClientError(answer.status, code, fields.get("Message") or answer.reason or "", operation)
    return error


class _Operation:
    def __init__(self, name: str) -> None:
        self.name = name


class _Events:
    """Handlers registered as on botocore's ``client.meta.events`` (``before-call.s3``,
    ``before-parameter-build.s3.GetObject``, ``*`` for any part), called with the operation
    (``model.name``) and its parameters before each call; passed on to the botocore client
    once there is one, so that whoever watches a client's calls sees them all."""

    def __init__(self) -> None:
        self.handlers: list[tuple[list[str], Callable[..., Any]]] = []
        self.sdk: Any = None

    def register(self, event: str, handler: Callable[..., Any], **options: Any) -> None:
        self.handlers.append((event.split("."), handler))
        if self.sdk is not None:
            self.sdk.meta.events.register(event, handler, **options)

    def attach(self, sdk: Any) -> None:
        for parts, handler in self.handlers:
            sdk.meta.events.register(".".join(parts), handler)
        self.sdk = sdk

    def emit(self, operation: str, params: dict[str, Any]) -> None:
        model = _Operation(operation)
        for stage in ("before-parameter-build", "before-call"):
            event = [stage, "s3", operation]
            for parts, handler in self.handlers:
                if len(parts) <= 3 and all(p in ("*", e) for p, e in zip(parts, event)):
                    handler(model=model, params=params, event_name=".".join(event))


class _Meta:
    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self.events = _Events()


# Operation: the page's fields naming where the next page starts, and the parameters they go to.
_PAGINATED = {
    "list_objects_v2": {"NextContinuationToken": "ContinuationToken"},
    "list_multipart_uploads": {"NextKeyMarker": "KeyMarker", "NextUploadIdMarker": "UploadIdMarker"},
    "list_parts": {"NextPartNumberMarker": "PartNumberMarker"},
}


class _Paginator:
    def __init__(self, call: Callable[..., dict[str, Any]], markers: dict[str, str]) -> None:
        self.call, self.markers = call, markers

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self.call(**kwargs)
            yield page
            following = {param: page[field] for field, param in self.markers.items() if page.get(field)}
            if not (page.get("IsTruncated") and following):
                return
            kwargs.update(following)


def _children(node: Any) -> dict[str, Any]:
    return {child.tag.rpartition("}")[2]: child for child in node}


class LightClient:
    """The S3 calls the backend makes most, in botocore's shapes, over ``http.py``; ``sdk``: a
    botocore client, made on first use, for the rest."""

    def __init__(self, settings: Settings, make_sdk: Callable[[], Any], size: int, retries: int) -> None:
        self.meta = _Meta(settings.endpoint)
        self.endpoint = settings.endpoint
        self.signer = Signer(settings.credentials, settings.region)
        self.http = http.pool_for(settings.endpoint, size, ca_bundle=os.environ.get("AWS_CA_BUNDLE"), plain_http=True)
        self.backoff = Backoff(initial=0.2, multiplier=2.0, maximum=8.0, seconds=None, tries=retries + 1,
                               codes=RETRIED_CODES)
        self._make_sdk = make_sdk
        self._sdk: Any = None
        self._lock = threading.Lock()

    @property
    def sdk(self) -> Any:
        with self._lock:
            if self._sdk is None:
                self._sdk = self._make_sdk()
                self.meta.events.attach(self._sdk)
            return self._sdk

    def _url(self, bucket: str, key: str | None = None, query: dict[str, str] | None = None) -> str:
        path = f"/{quote(bucket, safe='')}" + ("" if key is None else f"/{quote_key(key)}")
        if query:
            path += "?" + "&".join(f"{quote_param(k)}={quote_param(v)}" for k, v in query.items())
        return self.endpoint + path

    def _called(self, operation: str, **params: Any) -> None:
        if self.meta.events.handlers:
            self.meta.events.emit(operation, params)

    def _send(self, operation: str, method: str, url: str, headers: dict[str, str] | None = None,
              body: bytes | None = None, ok: Callable[[Any], None] | None = None) -> Any:
        """One request, tried again on throttling, a server's passing error or a dropped
        connection (botocore's standard retries); its answer, or a ``ClientError``."""
        error = _answer_error(operation)

        def once() -> Any:
            answer = http.send(self.http, method, url, self.signer.sign(method, url, headers or {}), error, body)
            if ok is not None:
                ok(answer)
            return answer

        return self.backoff.call(once)

    # -- reading -------------------------------------------------------------------------------
    def list_objects_v2(self, Bucket: str, Prefix: str = "", Delimiter: str | None = None,
                        MaxKeys: int | None = None, ContinuationToken: str | None = None) -> dict[str, Any]:
        self._called("ListObjectsV2", Bucket=Bucket, Prefix=Prefix)
        query = {"list-type": "2", "prefix": Prefix, "encoding-type": "url"}
        if Delimiter:
            query["delimiter"] = Delimiter
        if MaxKeys is not None:
            query["max-keys"] = str(MaxKeys)
        if ContinuationToken:
            query["continuation-token"] = ContinuationToken
        answer = self._send("ListObjectsV2", "GET", self._url(Bucket, query=query))
        return listing_page(answer.data, url_encoded=True)

    def get_paginator(self, operation: str) -> Any:
        if operation in _PAGINATED:
            return _Paginator(getattr(self, operation), _PAGINATED[operation])
        return self.sdk.get_paginator(operation)

    def list_multipart_uploads(self, Bucket: str, Prefix: str = "", KeyMarker: str | None = None,
                               UploadIdMarker: str | None = None) -> dict[str, Any]:
        from xml.etree import ElementTree

        self._called("ListMultipartUploads", Bucket=Bucket, Prefix=Prefix)
        query = {"uploads": "", "prefix": Prefix, "encoding-type": "url"}
        if KeyMarker:
            query.update({"key-marker": KeyMarker, "upload-id-marker": UploadIdMarker or ""})
        root = ElementTree.fromstring(self._send("ListMultipartUploads", "GET", self._url(Bucket, query=query)).data)
        fields = _children(root)
        decode = unquote_plus if getattr(fields.get("EncodingType"), "text", "") == "url" else str
        uploads = [{"Key": decode(upload["Key"].text or ""), "UploadId": upload["UploadId"].text or "",
                    "Initiated": timestamp(upload["Initiated"].text)}
                   for upload in map(_children, root.findall("{*}Upload"))]
        return {"Uploads": uploads, "IsTruncated": getattr(fields.get("IsTruncated"), "text", "") == "true",
                "NextKeyMarker": decode(getattr(fields.get("NextKeyMarker"), "text", "") or ""),
                "NextUploadIdMarker": getattr(fields.get("NextUploadIdMarker"), "text", "") or ""}

    def list_parts(self, Bucket: str, Key: str, UploadId: str, PartNumberMarker: str | None = None) -> dict[str, Any]:
        from xml.etree import ElementTree

        self._called("ListParts", Bucket=Bucket, Key=Key, UploadId=UploadId)
        query = {"uploadId": UploadId, **({"part-number-marker": str(PartNumberMarker)} if PartNumberMarker else {})}
        root = ElementTree.fromstring(self._send("ListParts", "GET", self._url(Bucket, Key, query)).data)
        fields = _children(root)
        parts = [{"PartNumber": int(part["PartNumber"].text or 0), "Size": int(part["Size"].text or 0)}
                 for part in map(_children, root.findall("{*}Part"))]
        return {"Parts": parts, "IsTruncated": getattr(fields.get("IsTruncated"), "text", "") == "true",
                "NextPartNumberMarker": getattr(fields.get("NextPartNumberMarker"), "text", "") or ""}

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str) -> None:
        self._called("AbortMultipartUpload", Bucket=Bucket, Key=Key, UploadId=UploadId)
        self._send("AbortMultipartUpload", "DELETE", self._url(Bucket, Key, {"uploadId": UploadId}))

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._called("HeadObject", Bucket=Bucket, Key=Key)
        answer = self._send("HeadObject", "HEAD", self._url(Bucket, Key))
        head = {"ContentLength": int(answer.headers.get("Content-Length") or 0), "ETag": answer.headers.get("ETag", "")}
        from email.utils import parsedate_to_datetime  # a fork or a prune sends no HEAD

        try:  # as botocore, no LastModified where the server sends no (readable) Last-Modified
            head["LastModified"] = parsedate_to_datetime(answer.headers["Last-Modified"])
        except (KeyError, TypeError, ValueError):
            pass
        return head

    def _range(self, bucket: str, key: str, start: int, end: int, etag: str = "") -> tuple[bytes, int, str]:
        """Bytes ``start`` to ``end`` of an object, its whole size and ETag; ``etag``: that
        version only (412 once the object has changed)."""
        self._called("GetObject", Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")
        headers = {"Range": f"bytes={start}-{end}", **({"If-Match": etag} if etag else {})}
        answer = self._send("GetObject", "GET", self._url(bucket, key), headers)
        return answer.data, content_range_total(answer), answer.headers.get("ETag", "")

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        """The first ``FIRST_GET`` bytes in one request (a small object whole), the rest as
        read, of the version read first."""
        first, total, etag = self._range(Bucket, Key, 0, FIRST_GET - 1)

        def fetch(start: int, end: int) -> bytes:
            return self._range(Bucket, Key, start, end, etag)[0]

        return {"Body": io.BufferedReader(RangedReader(first, total, fetch, GET_CHUNK)),  # type: ignore[arg-type]
                "ContentLength": total, "ETag": etag}

    # -- writing -------------------------------------------------------------------------------
    def put_object(self, Bucket: str, Key: str, Body: bytes, IfNoneMatch: str | None = None) -> dict[str, Any]:
        self._called("PutObject", Bucket=Bucket, Key=Key)
        headers = {"If-None-Match": IfNoneMatch} if IfNoneMatch else {}
        answer = self._send("PutObject", "PUT", self._url(Bucket, Key), headers, bytes(Body))
        return {"ETag": answer.headers.get("ETag", "")}

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        from xml.etree import ElementTree

        self._called("DeleteObjects", Bucket=Bucket, Delete=Delete)
        objects = "".join(f"<Object><Key>{escape(o['Key'])}</Key></Object>" for o in Delete["Objects"])
        quiet = "<Quiet>true</Quiet>" if Delete.get("Quiet") else ""
        body = f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{quiet}{objects}</Delete>'.encode()
        headers = {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(),
                   "Content-Type": "application/xml"}
        answer = self._send("DeleteObjects", "POST", self._url(Bucket, query={"delete": ""}), headers, body)
        errors = []
        for node in ElementTree.fromstring(answer.data):
            if node.tag.rpartition("}")[2] == "Error":
                errors.append({child.tag.rpartition("}")[2]: child.text or "" for child in node})
        return {"Errors": errors} if errors else {}

    def copy_object(self, CopySource: dict[str, str], Bucket: str, Key: str) -> dict[str, Any]:
        self._called("CopyObject", CopySource=CopySource, Bucket=Bucket, Key=Key)
        source = quote(f"{CopySource['Bucket']}/{CopySource['Key']}", safe="/~")
        answer = self._send("CopyObject", "PUT", self._url(Bucket, Key), {"x-amz-copy-source": source},
                            ok=_copy_completed)
        return {"CopyObjectResult": {"ETag": _copy_etag(answer.data)}}

    def __getattr__(self, name: str) -> Any:  # any other call: botocore's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.sdk, name)


def _copy_completed(answer: Any) -> None:
    """A CopyObject answered 200 may still have failed (S3 says so in the body, as botocore
    knows): a server's error, tried again."""
    fields = _error_fields(answer.data)
    if fields:
        raise ClientError(500, fields.get("Code") or "InternalError", fields.get("Message", ""), "CopyObject")


def _copy_etag(body: bytes) -> str:
    start = body.find(b"<ETag>")
    return body[start + 6:body.find(b"</ETag>")].decode().replace("&quot;", '"') if start >= 0 else ""


def light_client(endpoint_url: str | None, profile: str | None, make_sdk: Callable[[], Any], size: int,
                 retries: int) -> LightClient | None:
    """A light client for the location, or None where botocore must sign (see ``plain_settings``)."""
    settings = plain_settings(endpoint_url, profile)
    return None if settings is None else LightClient(settings, make_sdk, size, retries)
