"""The light S3 client (requests signed here, sent over http.py) against botocore: the same
signatures, URLs and answers; used only where the credentials and endpoint are plain, botocore
otherwise."""

from __future__ import annotations

import calendar
import datetime
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from s3_servers import ACCESS_KEY, SECRET_KEY, Location, art_location, use_botocore_credentials

from ckpt_tui.core import Policy, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.stores.backends import s3light
from ckpt_tui.stores.backends.http import Answer
from ckpt_tui.stores.backends.s3 import make_client, open_client

SERVER_KEYS = ["plain/key.bin", "a b/c d.json", "été/ü.bin", "x+y=z~w/a+b", "q?=%41/<tag>&.txt",
               "tab\tname/~!*'()$,;:@.json"]
AWKWARD_KEYS = [*SERVER_KEYS, "deep//double/slash"]  # SeaweedFS makes one slash of two
CLOCK = datetime.datetime(2026, 5, 1, 12, 0, 3)


# -- signatures and URLs: botocore's -------------------------------------------------------------------
class Recorder:
    """Stands for the pool: records each request, answers 200 with ``body``."""

    def __init__(self, body: bytes = b"") -> None:
        self.sent: list[tuple[str, str, dict]] = []
        self.body = body

    def urlopen(self, method, url, body=None, headers=None, **_):
        self.sent.append((method, url, dict(headers or {})))
        return Answer(200, "OK", {"ETag": '"e"', "Content-Length": "0",
                                  "Last-Modified": "Fri, 01 May 2026 12:00:03 GMT"}, self.body)


def light(endpoint="http://127.0.0.1:9000", token=None, region="us-east-1", body=b"") -> s3light.LightClient:
    settings = s3light.Settings(endpoint, region, s3light.Credentials(ACCESS_KEY, SECRET_KEY, token))
    client = s3light.LightClient(settings, lambda: pytest.fail("botocore was asked"), 4, 0)
    client.http = Recorder(body)
    return client


def botocore_signature(method, url, headers, body, token, region, monkeypatch) -> str:
    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials

    monkeypatch.setattr(auth, "get_current_datetime", lambda: CLOCK)
    request = AWSRequest(method=method, url=url, headers=headers, data=body)
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), "s3", region).add_auth(request)
    return request.headers["Authorization"]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
@pytest.mark.parametrize(("token", "region", "endpoint"), [
    (None, "us-east-1", "http://127.0.0.1:9000"),
    ("session/token+=", "eu-west-3", "https://s3.example.com"),
    (None, "auto", "http://[::1]:8333"),
])
def test_signatures_are_botocores(key, token, region, endpoint, monkeypatch):
    client = light(endpoint, token, region)
    requests = [
        ("GET", client._url("bkt", key), {"Range": "bytes=0-1048575", "If-Match": '"e"'}, b""),
        ("HEAD", client._url("bkt", key), {}, b""),
        ("PUT", client._url("bkt", key), {"If-None-Match": "*"}, b"data"),
        ("PUT", client._url("bkt", key + ".copy"), {"x-amz-copy-source": s3light.quote_key(f"bkt/{key}")}, b""),
        ("GET", client._url("bkt", query={"list-type": "2", "prefix": key, "delimiter": "/",
                                          "continuation-token": "1ue/Gc+x=", "encoding-type": "url"}), {}, b""),
        ("POST", client._url("bkt", query={"delete": ""}), {"Content-MD5": "abc==", "Content-Type": "application/xml"},
         b"<Delete/>"),
        ("DELETE", client._url("bkt", key, {"uploadId": "2~a+b/c="}), {}, b""),
        # parameters sorted by name, then value: "part" before "part-number-marker"
        ("GET", client._url("bkt", key, {"part-number-marker": "2", "part": "1", "uploadId": "u"}), {}, b""),
    ]
    for method, url, headers, body in requests:
        ours = client.signer.sign(method, url, headers, now=calendar.timegm(CLOCK.timetuple()))
        theirs = botocore_signature(method, url, headers, body, token, region, monkeypatch)
        assert ours["Authorization"] == theirs, (method, url)


def botocore_requests(calls) -> list:
    """The requests a botocore client (configured as the backend's) sends for ``calls(client)``."""
    from botocore.awsrequest import AWSResponse

    client = make_client("http://127.0.0.1:9000")
    sent = []

    def answer(request, **_):
        sent.append(request)
        return AWSResponse(request.url, 200, {}, None)

    client.meta.events.register("before-send", answer)
    for call in calls:
        try:
            call(client)
        except Exception:  # noqa: BLE001 - only the request matters, not parsing the empty answer
            pass
    return sent


def query_of(url: str) -> list[tuple[str, str]]:
    return sorted(parse_qsl(urlsplit(url).query, keep_blank_values=True))


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_urls_and_headers_are_botocores(key):
    """The same path (the key escaped alike), query and headers the server reads as botocore's."""
    calls = [
        lambda c: c.list_objects_v2(Bucket="bkt", Prefix=key, Delimiter="/", ContinuationToken="t+/="),
        lambda c: c.head_object(Bucket="bkt", Key=key),
        lambda c: c.put_object(Bucket="bkt", Key=key, Body=b"x", IfNoneMatch="*"),
        lambda c: c.copy_object(CopySource={"Bucket": "bkt", "Key": key}, Bucket="bkt", Key=key + "2"),
        lambda c: c.abort_multipart_upload(Bucket="bkt", Key=key, UploadId="u+1"),
    ]
    theirs = botocore_requests(calls)
    ours = light(body=b"<ListBucketResult/>")
    for call in calls:
        call(ours)
    assert len(ours.http.sent) == len(theirs) == len(calls)
    for (method, url, headers), request in zip(ours.http.sent, theirs):
        assert (method, urlsplit(url).path) == (request.method, urlsplit(request.url).path)
        assert query_of(url) == query_of(request.url)
        for name in ("If-None-Match", "x-amz-copy-source"):
            theirs = request.headers.get(name)
            assert headers.get(name) == (theirs.decode() if isinstance(theirs, bytes) else theirs)


def test_a_kept_connection_is_checked_whatever_its_descriptor():
    """A process with many files open hands sockets descriptors above select()'s 1023."""
    import os
    import socket

    from ckpt_tui.stores.backends.http import _readable

    ours, theirs = socket.socketpair()
    with ours, theirs, socket.socket(fileno=os.dup2(ours.fileno(), 1500)) as high:
        assert not _readable(high)
        theirs.close()  # the server closes the idle connection
        assert _readable(high)


# -- answers read as botocore reads them ---------------------------------------------------------------
def test_error_answers_raise_what_the_error_table_reads():
    from ckpt_tui.stores.backends.s3 import S3_ERRORS

    error = s3light._answer_error("GetObject")(Answer(503, "Slow", {}, b"<Error><Code>SlowDown</Code>"
                                                                        b"<Message>Reduce</Message></Error>"))
    assert S3_ERRORS.handles(error) and S3_ERRORS.describe(error) == (("SlowDown", 503), "SlowDown: Reduce")
    head = s3light._answer_error("HeadObject")(Answer(404, "Not Found", {}, b""))
    assert S3_ERRORS.describe(head) == (("404", 404), "404: Not Found")


def test_delete_answers_report_failed_keys():
    body = (b'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Error><Key>a b</Key>'
            b"<Code>InternalError</Code><Message>try again</Message></Error></DeleteResult>")
    client = light(body=body)
    answer = client.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": "a b"}, {"Key": "<&>"}], "Quiet": True})
    assert answer == {"Errors": [{"Key": "a b", "Code": "InternalError", "Message": "try again"}]}
    sent = client.http.sent[0][2]
    assert sent["Content-MD5"] and sent["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"


# -- when the light client is used -------------------------------------------------------------------------
def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(("config", "credentials", "environment", "profile", "expected"), [
    ("", "", {}, None, (ACCESS_KEY, "us-east-1")),  # the fixture's keys from the environment
    ("[default]\nregion = eu-west-3\n", "", {"AWS_DEFAULT_REGION": ""}, None, (ACCESS_KEY, "eu-west-3")),
    ("", "", {"AWS_SESSION_TOKEN": "tok"}, None, (ACCESS_KEY, "us-east-1")),
    ("[profile p]\nregion = auto\n", "[p]\naws_access_key_id = PK\naws_secret_access_key = PS\n",
     {"AWS_DEFAULT_REGION": ""}, "p",
     ("PK", "auto")),  # a profile named explicitly outranks the environment's keys, as in botocore
    ("[profile p]\naws_access_key_id = CK\naws_secret_access_key = CS\n", "", {"AWS_PROFILE": "p"}, None,
     (ACCESS_KEY, "us-east-1")),  # AWS_PROFILE does not outrank them
    ("[profile p]\naws_access_key_id = CK\naws_secret_access_key = CS\n", "", {"AWS_ACCESS_KEY_ID": "",
     "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "p"}, None, ("CK", "us-east-1")),
    # botocore's to interpret:
    ("", "", {"AWS_ENDPOINT_URL_S3": ""}, None, None),  # AWS itself: regions, redirects, virtual hosts
    ("", "", {"AWS_SECRET_ACCESS_KEY": ""}, None, None),  # half the keys
    ("", "", {"AWS_USE_FIPS_ENDPOINT": "true"}, None, None),
    ("", "", {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t"}, None, None),
    ("", "", {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, None, None),  # no keys: instance roles...
    ("[profile r]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n", "", {}, "r", None),
    ("[profile c]\ncredential_process = /bin/creds\n", "", {}, "c", None),
    ("[profile s]\nsso_session = x\nsso_account_id = 1\n", "", {}, "s", None),
    ("[default]\ns3 =\n  addressing_style = virtual\n", "", {}, None, None),
    ("[default]\nendpoint_url = http://elsewhere\n", "", {}, None, None),
    ("", "[default]\naws_access_key_id = K\n", {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, None,
     None),  # a partial credentials file
    ("", "", {}, "missing", None),  # botocore says the profile does not exist
    ("", "", {"AWS_PROFILE": "missing"}, None, None),
    ("[default\n", "", {}, None, None),  # unreadable
])
def test_the_light_client_is_used_only_for_plain_settings(config, credentials, environment, profile, expected,
                                                          tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", write(tmp_path / "config", config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", write(tmp_path / "credentials", credentials))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")
    for name, value in environment.items():
        monkeypatch.setenv(name, value) if value else monkeypatch.delenv(name, raising=False)
    settings = s3light.plain_settings(None, profile)
    found = settings and (settings.credentials.access_key, settings.region)
    assert found == expected
    if environment.get("AWS_SESSION_TOKEN"):
        assert settings.credentials.token == "tok"


def test_a_command_on_plain_settings_never_imports_botocore(moto_art_bucket):
    code = ("import sys; from ckpt_tui.cli import main; "
            f"assert main(['ls', {moto_art_bucket.url!r}, '--json', '--endpoint-url', {moto_art_bucket.endpoint!r}]) == 0; "
            "assert 'botocore' not in sys.modules, 'botocore imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# -- both clients on both servers -------------------------------------------------------------------------
@pytest.fixture(params=["light", "botocore"])
def client_kind(request, monkeypatch, tmp_path) -> str:
    if request.param == "botocore":
        use_botocore_credentials(monkeypatch, tmp_path)
    return request.param


def test_prune_and_fork_on_either_client(client_kind, s3_endpoint, art_base):
    location = art_location(s3_endpoint, art_base)
    store = location.store()
    assert type(store.client).__name__ == ("LightClient" if client_kind == "light" else "S3")
    plan = plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest", "val/reward"))
    result = execute_plan(store, plan)
    assert result.ok and [d.step for d in result.deleted] == list(range(10))
    kept = [c.step for c in store.load_run("demo", "agent-001").checkpoints]
    assert kept == [10, 11]
    result = fork_checkpoint(store, "demo", "agent-001", "agent-001-f", step=kept[-1])
    assert result.step == kept[-1]
    assert {k.rsplit("/", 1)[1] for k in location.keys("demo/models/agent-001-f/checkpoints/")} == {
        k.rsplit("/", 1)[1] for k in location.keys(f"demo/models/agent-001/checkpoints/{kept[-1]:04d}/")}


def test_awkward_keys_are_written_read_copied_and_deleted(client_kind, s3_endpoint):
    location = Location.fresh(s3_endpoint)
    backend = location.store().backend
    for index, key in enumerate(SERVER_KEYS):
        backend.write(key, f"{index}".encode() * 3)
        assert backend.create_new(key, b"again") is False
        backend.copy_file(key, f"copies/{key}")
    assert location.keys() == set(SERVER_KEYS) | {f"copies/{k}" for k in SERVER_KEYS}
    for index, key in enumerate(SERVER_KEYS):
        assert backend.read_file(f"copies/{key}") == f"{index}".encode() * 3
        assert [info.size for info in backend.walk(key)] == [3]
    assert backend.delete_files([f"copies/{k}" for k in SERVER_KEYS]) == {}
    assert location.keys() == set(SERVER_KEYS)


def test_a_large_object_is_read_by_ranges(s3_location):
    data = bytes(range(256)) * (5 * 4096 + 7)  # over FIRST_GET: more than one request
    s3_location.put("big.bin", data)
    backend = s3_location.store().backend
    with backend.open("big.bin") as stream:
        assert stream.read() == data
    with pytest.raises(Exception, match="larger than 1,000 bytes"):
        backend.read_file("big.bin", limit=1000)


def test_a_copy_answered_200_with_an_error_is_tried_again(faulty_server, faulty_art_bucket):
    fault = faulty_server.faults.add("error", method="PUT", path="adapter_model", times=1, status=200,
                                     code="InternalError")
    store = faulty_art_bucket.store()
    result = fork_checkpoint(store, "demo", "agent-001", "agent-001-c", step=3)
    assert fault.hits == 1 and result.step == 3
    copied = faulty_art_bucket.client.get_object(
        Bucket=faulty_art_bucket.bucket,
        Key=f"{faulty_art_bucket.prefix}demo/models/agent-001-c/checkpoints/0003/adapter_model.safetensors")
    source = faulty_art_bucket.local / "demo/models/agent-001/checkpoints/0003/adapter_model.safetensors"
    assert copied["Body"].read() == source.read_bytes()


def test_incomplete_uploads_are_listed_and_aborted_by_the_light_client(s3_location):
    started = s3_location.client.create_multipart_upload(Bucket=s3_location.bucket, Key=s3_location.prefix + "a b/x")
    s3_location.client.upload_part(Bucket=s3_location.bucket, Key=s3_location.prefix + "a b/x", PartNumber=1,
                                   UploadId=started["UploadId"], Body=b"12345")
    backend = s3_location.store().backend
    uploads = backend.incomplete_uploads("")
    assert [(u.path, u.upload_id, u.bytes, u.parts) for u in uploads] == [("a b/x", started["UploadId"], 5, 1)]
    backend.abort_upload(uploads[0])
    assert backend.incomplete_uploads("") == []
    assert "_sdk" in vars(backend.client) and backend.client._sdk is None  # botocore never needed
