"""A small fake W&B server: threaded HTTP on 127.0.0.1, GraphQL answered from memory.

The wandb SDK sends its requests from its bundled Go helper, so Python-level
HTTP mocks see nothing; this server is what it talks to instead.

Server behaviours the fake assumes (taken from the SDK's queries and W&B's
documented API, not from the W&B server's code):

* Every GraphQL request names its operation (``query Viewer {...}``); the
  fake answers by operation name and answers an unknown operation with a
  GraphQL error (HTTP 400) and records it in ``unknown``, so an SDK upgrade
  that sends something new fails loudly instead of passing silently.
* Any other path (the SDK's telemetry, ``/sdk/otel/...``) gets 200 ``{}``.
* ``run(name: X)`` finds a run by its id; ART names the run after the model.
* ``history(minStep, maxStep)`` returns rows with ``minStep <= _step < maxStep``
  as JSON strings; ``parquetHistory`` has no parquet files, so the SDK pages
  through ``history``; ``historyKeys.lastStep`` is the largest ``_step``.
* An artifact collection lists its versions newest first; each membership has
  its own version index and aliases; ``latest`` moves to the newest version.
* ``deleteArtifact`` with ``deleteAliases: false`` refuses a version that has
  aliases, as W&B does; with ``true`` it removes the version (soft delete on
  W&B: the fake just forgets it).
* Deleting a linked version unlinks it (``unlinkArtifact``), leaving the source.
  ``artifact.artifactMemberships`` lists where a version is logged and linked;
  collections made by a link are ``ArtifactPortfolio``s.
* ``linkArtifact`` adds a membership of the same artifact (same id, no copy)
  to the target collection, creating the collection if needed, and refuses
  an alias the target collection already uses.
* Connections (collections, versions, files) are paged by ``first``/``after``.
* File contents are served from ``/files/<artifact id>/<name>``; the manifest
  from ``/manifests/<artifact id>``; no authentication on these URLs, like
  W&B's signed URLs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

OPERATION = re.compile(r"\b(query|mutation)\s+(\w+)")
CREATED = "2026-03-01T12:00:00Z"


@dataclass
class FakeArtifact:
    id: str
    entity: str
    project: str
    sequence: str  # the collection it was logged to
    files: dict[str, bytes]
    created_at: str = CREATED
    type: str = "lora"
    state: str = "COMMITTED"

    @property
    def size(self) -> int:
        return sum(len(data) for data in self.files.values())


@dataclass
class Membership:
    artifact: FakeArtifact
    index: int
    aliases: list[str]
    collection: str
    project: str
    entity: str


@dataclass
class FakeRun:
    id: str
    history: list[dict]


@dataclass
class FakeProject:
    name: str
    runs: dict[str, FakeRun] = field(default_factory=dict)
    # collection name -> memberships, oldest first
    collections: dict[str, list[Membership]] = field(default_factory=dict)
    # collections created by a link (W&B calls these portfolios)
    linked: set[str] = field(default_factory=set)


class FakeWandb:
    """The in-memory model and what the server saw."""

    def __init__(self) -> None:
        self.entities: dict[str, dict[str, FakeProject]] = {}
        self.operations: list[str] = []
        self.unknown: list[str] = []
        self.deleted: list[dict] = []  # DeleteArtifact inputs, with the aliases the version had
        self.links: list[dict] = []
        self.unlinked: list[dict] = []  # UnlinkArtifact inputs (deleting a linked version)
        self.downloads: list[str] = []  # paths of GET requests (manifests, files)
        self.fault: str | None = None  # None, "500" or "hang"
        self.release = threading.Event()
        self._ids = 0
        self.lock = threading.RLock()

    # -- building the model ----------------------------------------------------
    def project(self, entity: str, name: str) -> FakeProject:
        return self.entities.setdefault(entity, {}).setdefault(name, FakeProject(name))

    def add_run(self, entity: str, project: str, run_id: str, history: list[dict]) -> None:
        rows = [{"_step": i, **row} for i, row in enumerate(history)]
        self.project(entity, project).runs[run_id] = FakeRun(run_id, rows)

    def log_version(self, entity: str, project: str, collection: str, files: dict[str, bytes],
                    aliases: list[str], created_at: str = CREATED, type: str = "lora") -> Membership:
        """Log a new version, moving ``latest`` to it as W&B does."""
        self._ids += 1
        artifact = FakeArtifact(f"QXJ0aWZhY3Q6{self._ids}", entity, project, collection, files,
                                created_at, type)
        return self._add_membership(entity, project, collection, artifact, aliases + ["latest"])

    def _add_membership(self, entity: str, project: str, collection: str, artifact: FakeArtifact,
                        aliases: list[str]) -> Membership:
        versions = self.project(entity, project).collections.setdefault(collection, [])
        if "latest" in aliases:
            for old in versions:
                old.aliases = [a for a in old.aliases if a != "latest"]
        index = max((m.index for m in versions), default=-1) + 1
        member = Membership(artifact, index, list(aliases), collection, project, entity)
        versions.append(member)
        return member

    def memberships(self, entity: str, project: str, collection: str) -> list[Membership]:
        return self.entities.get(entity, {}).get(project, FakeProject(project)).collections.get(collection, [])

    def find(self, entity: str, project: str, name: str) -> Membership | None:
        collection, _, ref = name.partition(":")
        for member in reversed(self.memberships(entity, project, collection)):
            if ref in member.aliases or ref == f"v{member.index}":
                return member
        return None

    def membership_by_id(self, artifact_id: str) -> Membership | None:
        for projects in self.entities.values():
            for project in projects.values():
                for versions in project.collections.values():
                    for member in versions:
                        if member.artifact.id == artifact_id:
                            return member
        return None

    def memberships_of(self, artifact_id: str) -> list[Membership]:
        """Every collection membership of one artifact: where it was logged, and its links."""
        return [m for projects in self.entities.values() for project in projects.values()
                for versions in project.collections.values() for m in versions
                if m.artifact.id == artifact_id]

    def artifact_by_id(self, artifact_id: str) -> FakeArtifact | None:
        member = self.membership_by_id(artifact_id)
        return member.artifact if member else None


# -- GraphQL responses ---------------------------------------------------------
def _page(edges: list[dict], v: dict | None = None) -> dict:
    """One page of a connection; the cursor is the offset of the next edge."""
    v = v or {}
    start = int(v.get("cursor") or 0)
    end = start + (v.get("perPage") or len(edges) or 1)
    more = end < len(edges)
    return {"totalCount": len(edges), "pageInfo": {"__typename": "PageInfo", "endCursor": str(end) if more else None,
                                                   "hasNextPage": more}, "edges": edges[start:end]}


def collection_id(entity: str, project: str, name: str) -> str:
    return base64.b64encode(f"ArtifactCollection:{entity}/{project}/{name}".encode()).decode()


def _project_info(entity: str, project: str) -> dict:
    return {"id": f"UHJvamVjdDo{project}", "internalId": "1", "name": project, "entity": {"name": entity}}


def _collection_info(member: Membership) -> dict:
    return {"__typename": "ArtifactSequence", "name": member.collection,
            "project": _project_info(member.entity, member.project)}


def _alias(member: Membership, alias: str) -> dict:
    return {"__typename": "ArtifactAlias", "id": f"{member.artifact.id}-{alias}", "alias": alias,
            "artifactCollection": _collection_info(member)}


def _artifact(member: Membership) -> dict:
    art = member.artifact
    src = member
    return {
        "__typename": "Artifact", "id": art.id,
        "artifactSequence": {"__typename": "ArtifactSequence", "name": art.sequence,
                             "project": _project_info(art.entity, art.project)},
        "versionIndex": src.index, "artifactType": {"name": art.type}, "description": None,
        "metadata": "{}", "ttlDurationSeconds": -1, "ttlIsInherited": True, "tags": [],
        "historyStep": None, "state": art.state, "size": art.size, "digest": "d" * 32,
        "digestAlgorithm": "MANIFEST_MD5", "commitHash": "c0ffee", "fileCount": len(art.files),
        "createdAt": art.created_at, "updatedAt": art.created_at,
        "aliases": [_alias(src, a) for a in src.aliases],
    }


def _membership(member: Membership) -> dict:
    art = member.artifact
    return {
        "__typename": "ArtifactCollectionMembership", "id": f"{art.id}-{member.collection}",
        "versionIndex": member.index, "createdAt": art.created_at,
        "aliases": [_alias(member, a) for a in member.aliases],
        "artifactCollection": {"__typename": "ArtifactPortfolio" if member.collection != art.sequence
                               else "ArtifactSequence", "name": member.collection,
                               "project": _project_info(member.entity, member.project)},
        "artifact": _artifact(member),
    }


def _user() -> dict:
    return {"id": "VXNlcjox", "name": "Test User", "username": "tester", "email": "t@example.com",
            "admin": False, "flags": "{}", "entity": "ent", "deletedAt": None,
            "apiKeys": {"edges": []}, "teams": {"edges": []}}


class GraphQLError(Exception):
    pass


class Resolver:
    """One method per GraphQL operation the SDK sends, named after it."""

    def __init__(self, model: FakeWandb, base_url: str) -> None:
        self.model = model
        self.base_url = base_url

    def Viewer(self, v: dict) -> dict:  # noqa: N802
        return {"viewer": {"id": "VXNlcjox", "entity": "ent", "username": "tester",
                           "email": "t@example.com", "flags": "{}", "teams": {"edges": []}}}

    # Features the fake server claims; everything else is answered as off.
    FEATURES = ("ARTIFACT_MEMBERSHIP_IN_LINK_ARTIFACT_RESPONSE",)

    def ServerFeaturesQuery(self, v: dict) -> dict:  # noqa: N802
        return {"serverInfo": {"features": [{"name": n, "isEnabled": True} for n in self.FEATURES]}}

    def GetDefaultEntity(self, v: dict) -> dict:  # noqa: N802
        return {"viewer": {"id": "VXNlcjox", "entity": "ent"}}

    def GetProjects(self, v: dict) -> dict:  # noqa: N802
        projects = self.model.entities.get(v["entity"], {})
        edges = [{"node": {"__typename": "Project", "id": f"UHJvamVjdDo{name}", "name": name,
                           "entityName": v["entity"], "createdAt": CREATED, "isBenchmark": False,
                           "user": _user()}} for name in sorted(projects)]
        return {"models": _page(edges, v)}

    def _project(self, v: dict) -> FakeProject | None:
        return self.model.entities.get(v["entity"], {}).get(v["project"])

    def ProjectArtifactType(self, v: dict) -> dict:  # noqa: N802
        if self._project(v) is None:
            return {"project": None}
        return {"project": {"artifactType": {"__typename": "ArtifactType", "id": "QXJ0aWZhY3RUeXBlOjE=",
                                             "name": v["type"], "description": None, "createdAt": CREATED}}}

    def ArtifactTypeArtifactCollections(self, v: dict) -> dict:  # noqa: N802
        project = self._project(v)
        if project is None:
            return {"project": None}
        edges = []
        for name, versions in sorted(project.collections.items()):
            if not any(m.artifact.type == v["type"] for m in versions):
                continue
            edges.append({"node": self._collection(v, project, name)})
        return {"project": {"artifactType": {"artifactCollections": _page(edges, v)}}}

    @staticmethod
    def _collection(v: dict, project: FakeProject, name: str) -> dict:
        typename = "ArtifactPortfolio" if name in project.linked else "ArtifactSequence"
        return {"__typename": typename, "id": collection_id(v["entity"], project.name, name), "name": name,
                "description": None, "createdAt": CREATED, "updatedAt": CREATED,
                "project": _project_info(v["entity"], project.name),
                "type": {"name": v["type"]}, "tags": {"edges": []}}

    def ProjectArtifactCollection(self, v: dict) -> dict:  # noqa: N802
        project = self._project(v)
        if project is None or v["name"] not in project.collections:
            return {"project": {"artifactType": {"artifactCollection": None}} if project else None}
        return {"project": {"artifactType": {"artifactCollection": self._collection(v, project, v["name"])}}}

    def FetchLinkedArtifacts(self, v: dict) -> dict:  # noqa: N802
        members = self.model.memberships_of(v["artifactID"])
        if not members:
            return {"artifact": None}
        edges = []
        for m in members:
            linked = m.collection in self.model.project(m.entity, m.project).linked
            edges.append({"node": {
                "versionIndex": m.index, "createdAt": CREATED,
                "aliases": [{"__typename": "ArtifactAlias", "id": f"{m.artifact.id}-{a}", "alias": a}
                            for a in m.aliases],
                "artifactCollection": {"__typename": "ArtifactPortfolio" if linked else "ArtifactSequence",
                                       "name": m.collection, "project": _project_info(m.entity, m.project)}}})
        return {"artifact": {"artifactMemberships": {"edges": edges}}}

    def UnlinkArtifact(self, v: dict) -> dict:  # noqa: N802
        data = v["input"]
        for m in self.model.memberships_of(data["artifactID"]):
            if collection_id(m.entity, m.project, m.collection) == data["artifactPortfolioID"]:
                self.model.memberships(m.entity, m.project, m.collection).remove(m)
                self.model.unlinked.append({**data, "collection": m.collection, "aliases": list(m.aliases)})
                return {"result": {"success": True}}
        raise GraphQLError("no such link")

    def ProjectArtifacts(self, v: dict) -> dict:  # noqa: N802
        project = self._project(v)
        if project is None or v["collection"] not in project.collections:
            return {"project": {"artifactType": {"artifactCollection": None}} if project else None}
        members = sorted(project.collections[v["collection"]], key=lambda m: m.index, reverse=True)
        edges = [{"version": f"v{m.index}", "node": _artifact(m)} for m in members]
        typename = "ArtifactPortfolio" if v["collection"] in project.linked else "ArtifactSequence"
        return {"project": {"artifactType": {"artifactCollection": {"__typename": typename,
                                                                    "artifacts": _page(edges, v)}}}}

    def ArtifactMembershipByName(self, v: dict) -> dict:  # noqa: N802
        if self._project(v) is None:
            return {"project": None}
        member = self.model.find(v["entity"], v["project"], v["name"])
        return {"project": {"artifactCollectionMembership": _membership(member) if member else None}}

    def DeleteArtifact(self, v: dict) -> dict:  # noqa: N802
        data = v["input"]
        member = self.model.membership_by_id(data["artifactID"])
        if member is None:
            raise GraphQLError("artifact not found")
        if member.aliases and not data.get("deleteAliases"):
            raise GraphQLError("cannot delete an artifact version with aliases")
        versions = self.model.memberships(member.entity, member.project, member.collection)
        versions.remove(member)
        self.model.deleted.append({**data, "collection": member.collection, "version": f"v{member.index}",
                                   "aliases": list(member.aliases)})
        return {"result": {"artifact": {"id": member.artifact.id}}}

    def LinkArtifact(self, v: dict) -> dict:  # noqa: N802
        data = v["input"]
        source = self.model.artifact_by_id(data["artifactID"])
        if source is None:
            raise GraphQLError("artifact not found")
        entity, project, collection = data["entityName"], data["projectName"], data["artifactPortfolioName"]
        aliases = [a["alias"] for a in data.get("aliases") or []]
        taken = {a for m in self.model.memberships(entity, project, collection) for a in m.aliases}
        if taken & set(aliases):
            raise GraphQLError(f"alias already used in {collection}: {sorted(taken & set(aliases))}")
        self.model.links.append(data)
        proj = self.model.project(entity, project)
        if collection not in proj.collections:
            proj.linked.add(collection)
        member = self.model._add_membership(entity, project, collection, source, aliases + ["latest"])
        return {"result": {"versionIndex": member.index, "artifactMembership": _membership(member)}}

    def FetchArtifactManifest(self, v: dict) -> dict:  # noqa: N802
        art = self.model.artifact_by_id(v["id"])
        if art is None:
            return {"artifact": None}
        return {"artifact": {"currentManifest": {"id": "TWFuaWZlc3Q6MQ==", "file": {
            "directUrl": f"{self.base_url}/manifests/{art.id}"}}}}

    def ArtifactMembershipFiles(self, v: dict) -> dict:  # noqa: N802
        member = self.model.find(v["entity"], v["project"], f"{v['collection']}:{v['alias']}")
        if member is None:
            return {"project": {"artifactCollection": None}}
        names = v.get("fileNames")
        edges = [{"node": self._file(member.artifact, name)} for name in sorted(member.artifact.files)
                 if not names or name in names]
        return {"project": {"artifactCollection": {"__typename": "ArtifactSequence",
                                                   "artifactMembership": {"files": _page(edges, v)}}}}

    GetArtifactMembershipFileUrls = ArtifactMembershipFiles  # same shape, fewer fields read

    def _file(self, art: FakeArtifact, name: str) -> dict:
        data = art.files[name]
        url = f"{self.base_url}/files/{art.id}/{name}"
        return {"__typename": "File", "id": f"RmlsZTo{name}", "name": name, "url": url,
                "sizeBytes": len(data), "storagePath": None, "mimetype": None, "updatedAt": CREATED,
                "digest": md5_b64(data), "md5": md5_b64(data), "directUrl": url}

    def _run(self, v: dict, key: str = "name") -> FakeRun | None:
        project = self._project(v)
        return project.runs.get(v[key]) if project else None

    def Run(self, v: dict) -> dict:  # noqa: N802
        run = self._run(v)
        if run is None:
            return {"project": None if self._project(v) is None else {"run": None}}
        return {"project": {"run": {
            "projectId": "1", "id": f"UnVuOj{run.id}", "tags": [], "name": run.id, "displayName": run.id,
            "sweepName": None, "state": "finished", "group": None, "jobType": None, "commit": None,
            "readOnly": False, "createdAt": CREATED, "heartbeatAt": CREATED, "description": None,
            "notes": None, "historyLineCount": len(run.history), "user": {"name": "t", "username": "t"},
            "config": "{}", "systemMetrics": "{}", "summaryMetrics": json.dumps(run.history[-1] if run.history else {}),
            "historyKeys": self._history_keys(run)}}}

    @staticmethod
    def _history_keys(run: FakeRun) -> dict:
        keys = sorted({k for row in run.history for k in row})
        return {"lastStep": max((r["_step"] for r in run.history), default=-1),
                "keys": {k: {"typeCounts": [{"type": "number", "count": 1}]} for k in keys}}

    def RunHistoryKeys(self, v: dict) -> dict:  # noqa: N802
        run = self._run(v)
        return {"project": {"run": {"historyKeys": self._history_keys(run)} if run else None}}

    def RunParquetHistory(self, v: dict) -> dict:  # noqa: N802
        run = self._run(v, "runName")
        return {"project": {"run": {"parquetHistory": {"parquetUrls": [], "liveData": []}} if run else None}}

    def HistoryPage(self, v: dict) -> dict:  # noqa: N802
        run = self._run(v, "run")
        if run is None:
            return {"project": {"run": None}}
        # maxStep is exclusive here (the SDK asks for [page_offset, page_offset + page_size)).
        rows = [r for r in run.history if v["minStep"] <= r["_step"] < v["maxStep"]][: v["pageSize"]]
        return {"project": {"run": {"history": [json.dumps(r) for r in rows]}}}


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def make_handler(server: FakeWandbServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up waiting (the "hang" fault)

        def _fault(self) -> bool:
            model = server.model
            if model.fault == "500":
                self._send(500, b'{"errors":[{"message":"internal server error"}]}')
                return True
            if model.fault == "hang":
                model.release.wait(30)
                self._send(503, b"{}")
                return True
            return False

        def do_GET(self) -> None:  # noqa: N802
            model = server.model
            model.downloads.append(unquote(self.path))
            if self._fault():
                return
            parts = unquote(self.path).split("?")[0].strip("/").split("/", 2)
            if parts[0] == "files" and len(parts) == 3:
                art = model.artifact_by_id(parts[1])
                if art is not None and parts[2] in art.files:
                    return self._send(200, art.files[parts[2]], "application/octet-stream")
            if parts[0] == "manifests" and len(parts) == 2 and (art := model.artifact_by_id(parts[1])):
                contents = {name: {"digest": md5_b64(data), "size": len(data)}
                            for name, data in art.files.items()}
                manifest = {"version": 1, "storagePolicy": "wandb-storage-policy-v1",
                            "storagePolicyConfig": {"storageLayout": "V2"}, "contents": contents}
                return self._send(200, json.dumps(manifest).encode())
            self._send(404, b"{}")

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.startswith("/graphql"):
                return self._send(200, b"{}")
            if self._fault():
                return
            model = server.model
            request = json.loads(body)
            match = OPERATION.search(request.get("query", ""))
            name = match.group(2) if match else "<anonymous>"
            with model.lock:
                model.operations.append(name)
                method = getattr(Resolver(model, server.url), name, None) if name[:1].isupper() else None
                if method is None:
                    model.unknown.append(name)
                    return self._send(400, json.dumps(
                        {"errors": [{"message": f"fake W&B server: unknown operation {name}"}]}).encode())
                try:
                    data = method(request.get("variables") or {})
                except GraphQLError as exc:
                    return self._send(200, json.dumps({"data": None, "errors": [{"message": str(exc)}]}).encode())
            self._send(200, json.dumps({"data": data}).encode())

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients that gave up (timeouts in the fault tests) are expected here


class FakeWandbServer:
    def __init__(self) -> None:
        self.model = FakeWandb()
        self.httpd = QuietServer(("127.0.0.1", 0), make_handler(self))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> FakeWandbServer:
        self.thread.start()
        return self

    def reset(self) -> FakeWandb:
        """A fresh, empty model (the server and its port stay)."""
        self.model.release.set()
        self.model = FakeWandb()
        return self.model

    def stop(self) -> None:
        self.model.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
