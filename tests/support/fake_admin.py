"""A wire-level fake of LiteLLM's admin routes, for tests and bench/keys.py.

A real HTTP server on 127.0.0.1 (one thread per connection) that keeps
state and validates every request body with LiteLLM's own request models
from the pinned litellm (GenerateKeyRequest, UpdateKeyRequest, KeyRequest,
NewTeamRequest, UpdateTeamRequest, DeleteTeamRequest; for DB models
Deployment, updateDeployment, ModelInfoDelete). Answers copy the route
handlers in litellm/proxy/management_endpoints/ (key_management_endpoints.py,
team_endpoints.py, model_management_endpoints.py) and proxy_server.py
(/model/info) of litellm 1.108.7: the same response models, status codes and
error bodies, including LiteLLM's habit of sending `str({"error": ...})` as
the ProxyException message. Models are stored as /model/new stores them
(LiteLLM's Deployment, its boolean defaults included) and listed as
/model/info lists them: through LiteLLM's own remove_sensitive_info_from_deployment
(api_key left out, secret-named params masked), with db_model true and
LiteLLM's cost-map fields mixed into model_info.

Stricter than LiteLLM in three ways: a body field the request model does not
know is a 422 here (LiteLLM ignores it silently, which would hide a typo);
so is a model_info without the model's own id in PATCH /model/{id}/update
(LiteLLM's ModelInfo invents a random id and stores it); and a required
field left out is a 422 naming it (LiteLLM's /model/new answers a 500 when
Deployment.__init__ raises a TypeError).

Fault injection: `latency` (seconds per request), `inject(path, kind, times,
alias=...)` with kind "503" or "500" (answer so, do nothing), "drop" (close the
connection, do nothing) or "drop_after" (do the work, then close the
connection without an answer: the ambiguous case), and `db_connected=False`
(every management route answers as LiteLLM does without a database).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from pydantic import BaseModel, ValidationError  # noqa: E402

import litellm  # noqa: E402
from litellm.proxy._types import (  # noqa: E402
    DeleteTeamRequest,
    GenerateKeyRequest,
    GenerateKeyResponse,
    KeyRequest,
    LiteLLM_TeamTable,
    ModelInfoDelete,
    NewTeamRequest,
    UpdateKeyRequest,
    UpdateTeamRequest,
    UserAPIKeyAuth,
)
from litellm.proxy.common_utils.openai_endpoint_utils import remove_sensitive_info_from_deployment  # noqa: E402
from litellm.types.router import Deployment, updateDeployment  # noqa: E402
from litellm.litellm_core_utils.duration_parser import duration_in_seconds  # noqa: E402
from litellm.proxy.common_utils.timezone_utils import budget_duration_error  # noqa: E402
from litellm.secret_managers.base_secret_manager import raise_if_unsafe_secret_name  # noqa: E402
from litellm.types.proxy.common_proxy_errors import CommonProxyErrors  # noqa: E402

DB_NOT_CONNECTED = CommonProxyErrors.db_not_connected_error.value


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_token_if_needed(token: str) -> str:
    return hash_token(token) if token.startswith("sk-") else token


class Reply(Exception):
    """An answer other than 200, raised from a route (like HTTPException/ProxyException)."""

    def __init__(self, status: int, body):
        self.status = status
        self.body = body


def proxy_exception(status: int, message, type_: str = "internal_server_error", param=None) -> Reply:
    """LiteLLM's ProxyException body; `message` is str()-ed as LiteLLM does."""
    return Reply(status, {"error": {"message": str(message), "type": type_, "param": param, "code": str(status)}})


def validation_error(errors: list[dict]) -> Reply:
    return Reply(422, {"detail": [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in errors]})


def check_budget(data) -> None:
    """The budget checks /key/generate and /team/new make first, with LiteLLM's own validator."""
    if data.max_budget is not None and (not math.isfinite(data.max_budget) or data.max_budget < 0):
        raise proxy_exception(400, {"error": f"max_budget must be a non-negative finite number. Received: {data.max_budget}"})
    error = budget_duration_error(data.budget_duration)
    if error is not None:
        raise proxy_exception(400, {"error": error})


def parse_body(model: type[BaseModel], raw: bytes) -> BaseModel:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise validation_error([{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]) from None
    if not isinstance(body, dict):
        raise validation_error([{"type": "model_attributes_type", "loc": ("body",), "msg": "Input should be an object"}])
    unknown = sorted(set(body) - set(model.model_fields))
    if unknown:
        raise validation_error(
            [{"type": "extra_forbidden", "loc": ("body", name), "msg": "unknown field (LiteLLM would ignore it)"} for name in unknown]
        )
    missing = [name for name, info in model.model_fields.items() if info.is_required() and name not in body]
    if missing:  # as FastAPI says it (Deployment's own __init__ would raise a TypeError instead)
        raise validation_error([{"type": "missing", "loc": ("body", name), "msg": "Field required"} for name in missing])
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise validation_error([{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from None


def query_int(query: dict, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = query.get(name, [str(default)])[0]
    try:
        value = int(raw)
    except ValueError:
        raise validation_error([{"type": "int_parsing", "loc": ("query", name), "msg": "Input should be a valid integer"}]) from None
    if value < low or (high is not None and value > high):
        raise validation_error([{"type": "less_than_equal", "loc": ("query", name), "msg": f"Input should be between {low} and {high}"}])
    return value


@dataclass
class Fault:
    path: str
    kind: str  # "503" | "500" | "drop" | "drop_after"
    times: int
    alias: str | None = None  # only requests for this key_alias / team_id


@dataclass
class Seen:
    """One request as the server saw it (the Authorization header left out)."""

    method: str
    path: str
    query: dict
    body: dict | None
    authorized: bool


class Rendered(str):
    """An answer already rendered as JSON text: sent as it is."""


class FakeAdmin:
    """`with FakeAdmin(master_key) as fake: ... fake.url ...`"""

    def __init__(self, master_key: str = "sk-fake-master-0123456789", latency: float = 0.0):
        self.master_key = master_key
        self.latency = latency
        self.db_connected = True
        self.keys: dict[str, dict] = {}  # token hash -> row
        self.deleted_keys: dict[str, dict] = {}  # LiteLLM_DeletedVerificationToken: /key/info still serves them
        self.teams: dict[str, dict] = {}  # team_id -> row
        self.models: dict[str, dict] = {}  # model_id -> row as LiteLLM_ProxyModelTable holds it (params in plaintext)
        self.config_models: list[dict] = []  # deployments from config.yaml: listed, not editable
        self._listing_cache: dict[str, str] = {}
        self._key_order: tuple[tuple, list[str]] | None = None  # (the tokens present, newest first)
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._sequence = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeAdmin":
        fake = self

        class Handler(_Handler):
            admin = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeAdmin":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test helpers -----------------------------------------------------

    def inject(self, path: str, kind: str, times: int = 1, alias: str | None = None) -> None:
        assert kind in ("503", "500", "drop", "drop_after")
        with self._lock:
            self.faults.append(Fault(path, kind, times, alias))

    def seen(self, path: str, method: str | None = None) -> list[Seen]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def key_aliases(self) -> list[str]:
        return sorted(row["key_alias"] for row in self.keys.values() if row.get("key_alias"))

    def add_team(self, team_id: str, **fields) -> None:
        with self._lock:
            self._create_team(NewTeamRequest(team_id=team_id, **fields))

    def add_config_model(self, model_name: str, litellm_params: dict, model_id: str | None = None) -> None:
        """A deployment from config.yaml: /model/info lists it with db_model false."""
        with self._lock:
            self.config_models.append({"model_name": model_name, "litellm_params": litellm_params,
                                       "model_info": {"id": model_id or secrets.token_hex(8)}})

    def _take_fault(self, path: str, body: dict | None) -> Fault | None:
        body = body if isinstance(body, dict) else {}
        info = body.get("model_info") if isinstance(body.get("model_info"), dict) else {}
        alias = body.get("key_alias") or body.get("team_id") or body.get("id") or info.get("id")
        with self._lock:
            for fault in self.faults:
                if fault.path == path and fault.times > 0 and fault.alias in (None, alias):
                    fault.times -= 1
                    return fault
        return None

    def _next_time(self) -> datetime:
        self._sequence += 1
        return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=self._sequence)

    # -- routes (run under the lock) ---------------------------------------

    def route(self, method: str, path: str, query: dict, raw: bytes):
        routes = {
            ("POST", "/key/generate"): self.key_generate,
            ("GET", "/key/info"): self.key_info,
            ("GET", "/key/list"): self.key_list,
            ("POST", "/key/delete"): self.key_delete,
            ("POST", "/team/new"): self.team_new,
            ("GET", "/team/info"): self.team_info,
            ("GET", "/team/list"): self.team_list,
        }
        routes.update({
            ("POST", "/key/update"): self.key_update,
            ("POST", "/team/update"): self.team_update,
            ("POST", "/team/delete"): self.team_delete,
            ("GET", "/model/info"): self.model_info,
            ("POST", "/model/new"): self.model_new,
            ("POST", "/model/delete"): self.model_delete,
        })
        if method == "PATCH" and path.startswith("/model/") and path.endswith("/update"):
            return self.model_patch(path[len("/model/"):-len("/update")], raw)
        handler = routes.get((method, path))
        if handler is None:
            raise Reply(404, {"detail": "Not Found"})
        return handler(query, raw)

    def key_generate(self, query, raw):
        data = parse_body(GenerateKeyRequest, raw)
        if not self.db_connected:
            raise proxy_exception(500, {"error": DB_NOT_CONNECTED})
        check_budget(data)
        if data.key_alias is not None:
            try:
                raise_if_unsafe_secret_name(data.key_alias)
            except ValueError:
                raise proxy_exception(
                    400,
                    'Invalid key_alias: must not contain control characters (such as tab or newline) or a ".." path segment',
                    "bad_request_error",
                    "key_alias",
                ) from None
        # A proxy admin may name a team that does not exist: LiteLLM mints the key anyway.
        if data.key_alias is not None and any(row.get("key_alias") == data.key_alias for row in self.keys.values()):
            raise proxy_exception(
                400,
                f"Key with alias '{data.key_alias}' already exists. Unique key aliases across all keys are required.",
                "bad_request_error",
                "key_alias",
            )
        now = self._next_time()
        plaintext = "sk-" + secrets.token_urlsafe(16)
        token = hash_token(plaintext)
        expires = None
        if data.duration is not None:
            try:  # LiteLLM's own parser; its ValueError becomes a 500 there too
                expires = now + timedelta(seconds=duration_in_seconds(data.duration))
            except ValueError as error:
                raise proxy_exception(500, str(error)) from None
        row = {
            "token": token,
            "key_name": f"sk-...{plaintext[-4:]}",
            "key_alias": data.key_alias,
            "team_id": data.team_id,
            "user_id": data.user_id,
            "models": data.models or [],
            "max_budget": data.max_budget,
            "budget_duration": data.budget_duration,
            "rpm_limit": data.rpm_limit,
            "tpm_limit": data.tpm_limit,
            "metadata": data.metadata or {},
            "expires": expires,
            "spend": 0.0,
            "blocked": None,
            "created_at": now,
            "updated_at": now,
        }
        self.keys[token] = row
        response = GenerateKeyResponse.model_validate({**row, "key": plaintext, "token_id": token, "token": None})
        response.token = response.token_id
        return response.model_dump(mode="json")

    def key_info(self, query, raw):
        if not self.db_connected:
            raise proxy_exception(500, "Database not connected. Connect a database to your proxy - https://docs.litellm.ai/docs/simple_proxy#managing-auth---virtual-keys")
        key = query.get("key", [None])[0]
        token = hash_token_if_needed(key) if key else None
        row = self.keys.get(token) if key else None
        deleted = self.deleted_keys.get(token) if row is None and key else None
        if row is None and deleted is None:
            raise proxy_exception(404, "Key not found in database", "not_found_error", "key")
        # LiteLLM 1.108.7 info_key_fn answers a deleted key from its archive, status "deleted".
        info = {k: v for k, v in (row or deleted).items() if k != "token"}
        info["status"] = "active" if row is not None else "deleted"
        return {"key": key, "info": json.loads(json.dumps(info, default=str))}

    def key_list(self, query, raw):
        page = query_int(query, "page", 1, 1)
        size = query_int(query, "size", 10, 1, 100)
        if not self.db_connected:
            raise proxy_exception(500, "Database not connected")
        wanted = [(field, query[name][0]) for name, field in
                  (("team_id", "team_id"), ("key_alias", "key_alias"), ("key_hash", "token")) if query.get(name)]
        tokens = self._tokens_newest_first()
        if wanted:
            tokens = [t for t in tokens if all(self.keys[t].get(field) == value for field, value in wanted)]
        chunk = [self.keys[t] for t in tokens[(page - 1) * size : page * size]]
        rows = tokens  # for the counts
        full = query.get("return_full_object", ["false"])[0].lower() == "true"
        keys = [self._listed_key(row) if full else json.dumps(row["token"]) for row in chunk]
        # Rendered text, not a dict: the bench lists 10,000 keys, and the fake's CPU is the bench's (one process).
        return Rendered('{"keys": [' + ", ".join(keys) + f'], "total_count": {len(rows)}, "current_page": {page}, '
                        f'"total_pages": {-(-len(rows) // size)}}}')

    def _tokens_newest_first(self) -> list[str]:
        """/key/list's order (created_at, then token, newest first), sorted again only when the set of keys changed."""
        present = tuple(self.keys)
        if self._key_order is None or self._key_order[0] != present:
            rows = sorted(self.keys.values(), key=lambda row: (row["created_at"], row["token"]), reverse=True)
            self._key_order = (present, [row["token"] for row in rows])
        return self._key_order[1]

    def _listed_key(self, row: dict) -> str:
        """A key row as /key/list's full object (LiteLLM's UserAPIKeyAuth), as JSON text, remembered until the row changes."""
        fingerprint = json.dumps(row, sort_keys=True, default=str)
        cached = self._listing_cache.get(fingerprint)
        if cached is None:
            cached = self._listing_cache[fingerprint] = json.dumps(UserAPIKeyAuth(**row).model_dump(mode="json"))
        return cached

    def key_delete(self, query, raw):
        data = parse_body(KeyRequest, raw)
        if not self.db_connected:
            raise proxy_exception(500, "Not connected to DB!")
        if data.keys:
            tokens = [hash_token_if_needed(key) for key in data.keys]
            echoed = data.keys
        else:
            tokens = [token for token, row in self.keys.items() if row.get("key_alias") in data.key_aliases]
            echoed = data.key_aliases
        found = [token for token in tokens if token in self.keys]
        if not found:
            raise proxy_exception(404, {"error": "No keys found"})
        for token in found:
            self.deleted_keys[token] = self.keys.pop(token)
        return {"deleted_keys": echoed}

    def _create_team(self, data: NewTeamRequest) -> dict:
        now = self._next_time()
        row = data.model_dump(exclude_none=True)
        row.update(team_id=data.team_id or secrets.token_hex(16), spend=0.0, created_at=now, updated_at=now)
        team = LiteLLM_TeamTable.model_validate(row).model_dump(mode="json")
        self.teams[team["team_id"]] = team
        return team

    def team_new(self, query, raw):
        data = parse_body(NewTeamRequest, raw)
        if not self.db_connected:
            raise proxy_exception(500, {"error": "No db connected"})
        check_budget(data)
        if data.team_id is not None and data.team_id in self.teams:
            raise proxy_exception(400, {"error": f"Team id = {data.team_id} already exists. Please use a different team id."})
        return self._create_team(data)

    def team_info(self, query, raw):
        if not self.db_connected:
            raise proxy_exception(500, {"error": "Database not connected. Connect a database to your proxy - https://docs.litellm.ai/docs/simple_proxy#managing-auth---virtual-keys"})
        team_id = query.get("team_id", [None])[0]
        if team_id is None:
            raise proxy_exception(422, {"message": "Malformed request. No team id passed in."}, "auth_error", "None")
        team = self.teams.get(team_id)
        if team is None:
            raise proxy_exception(404, {"message": f"Team not found, passed team id: {team_id}."}, "auth_error", "None")
        keys = [json.loads(json.dumps(row, default=str)) for row in self.keys.values() if row.get("team_id") == team_id]
        return {"team_id": team_id, "team_info": team, "keys": keys, "team_memberships": []}

    def team_list(self, query, raw):
        if not self.db_connected:
            raise Reply(400, {"detail": {"error": DB_NOT_CONNECTED}})
        teams = sorted(self.teams.values(), key=lambda team: team.get("team_alias") or "")
        return [
            {**team, "team_memberships": [], "keys": [json.loads(json.dumps(row, default=str)) for row in self.keys.values() if row.get("team_id") == team["team_id"]]}
            for team in teams
        ]

    # -- updates (key_management_endpoints.update_key_fn, team_endpoints.update_team) --

    KEY_COLUMNS = ("key_alias", "team_id", "models", "max_budget", "budget_duration", "rpm_limit", "tpm_limit", "metadata", "blocked")
    TEAM_COLUMNS = ("team_alias", "models", "max_budget", "budget_duration", "rpm_limit", "tpm_limit", "metadata", "blocked")

    def key_update(self, query, raw):
        data = parse_body(UpdateKeyRequest, raw)
        if not self.db_connected:
            raise proxy_exception(500, {"error": "Database not connected"})
        check_budget(data)
        if data.key is not None:
            row = self.keys.get(hash_token_if_needed(data.key))
        else:
            matches = [r for r in self.keys.values() if r.get("key_alias") == data.key_alias]
            if len(matches) > 1:
                raise proxy_exception(400, f"Multiple keys found with key_alias={data.key_alias}", "bad_request_error", "key_alias")
            row = matches[0] if matches else None
        if row is None:
            raise proxy_exception(404, "Key not found.", "not_found_error", "key")
        changes = data.model_dump(exclude_unset=True)  # a merge patch: explicit null clears
        alias = changes.get("key_alias", row.get("key_alias"))
        if alias != row.get("key_alias") and any(r.get("key_alias") == alias for r in self.keys.values()):
            raise proxy_exception(400, f"Key with alias '{alias}' already exists. Unique key aliases across all keys are required.",
                                  "bad_request_error", "key_alias")
        for name in self.KEY_COLUMNS:
            if name in changes:
                row[name] = changes[name]
        row["updated_at"] = self._next_time()
        return {"key": data.key or row["token"], **json.loads(json.dumps(row, default=str))}

    def team_update(self, query, raw):
        data = parse_body(UpdateTeamRequest, raw)
        if not self.db_connected:
            raise proxy_exception(500, {"error": DB_NOT_CONNECTED})
        check_budget(data)
        team = self.teams.get(data.team_id)
        if team is None:
            raise proxy_exception(404, {"error": f"Team not found, passed team_id={data.team_id}"}, param=None)
        changes = data.model_dump(exclude_unset=True)
        updated = {**team, **{name: changes[name] for name in self.TEAM_COLUMNS if name in changes}, "updated_at": self._next_time()}
        self.teams[data.team_id] = LiteLLM_TeamTable.model_validate(updated).model_dump(mode="json")
        return {"team_id": data.team_id, "data": self.teams[data.team_id]}

    def team_delete(self, query, raw):
        data = parse_body(DeleteTeamRequest, raw)
        if not self.db_connected:
            raise proxy_exception(500, {"error": DB_NOT_CONNECTED})
        for team_id in data.team_ids:
            if team_id not in self.teams:
                raise Reply(404, {"detail": {"error": f"Team not found, passed team_id={team_id}"}})
        for team_id in data.team_ids:  # LiteLLM deletes the teams' keys with them
            del self.teams[team_id]
            for token in [t for t, row in self.keys.items() if row.get("team_id") == team_id]:
                del self.keys[token]
        return {"deleted_teams": data.team_ids}

    # -- DB models (model_management_endpoints.py, proxy_server.model_info_v1) --

    def _listed(self, row: dict, db_model: bool) -> dict:
        """A deployment as /model/info shows it, remembered until the row changes (bench/state.py lists 500)."""
        fingerprint = json.dumps([row, db_model], sort_keys=True, default=str)
        cached = self._listing_cache.get(fingerprint)
        if cached is None:
            cached = self._listing_cache[fingerprint] = json.dumps(self._list_row(row, db_model))
        return json.loads(cached)

    def _list_row(self, row: dict, db_model: bool) -> dict:
        """A deployment as /model/info shows it: secrets out, LiteLLM's cost map mixed into model_info."""
        deployment = Deployment(model_name=row["model_name"], litellm_params=row["litellm_params"], model_info=row["model_info"])
        dumped = json.loads(json.dumps(deployment.model_dump(exclude_none=True), default=str))
        shown = remove_sensitive_info_from_deployment(dumped, excluded_keys={"litellm_credential_name"})  # as /model/info calls it
        try:
            cost_map = dict(litellm.get_model_info(model=row["litellm_params"]["model"]))
        except Exception:  # noqa: BLE001 - LiteLLM falls back to nothing the same way
            cost_map = {}
        info = {**shown["model_info"], "id": row["model_info"]["id"], "db_model": db_model,
                "access_via_team_ids": [], "direct_access": True, "pricing_overrides": []}
        info.update({name: value for name, value in {"key": row["litellm_params"]["model"], "max_tokens": None,
                                                     "input_cost_per_token": None, "output_cost_per_token": None,
                                                     **cost_map}.items() if name not in info})
        return {"model_name": shown["model_name"], "litellm_params": shown["litellm_params"],
                "model_info": json.loads(json.dumps(info, default=str))}

    def model_info(self, query, raw):
        rows = [(row, True) for row in self.models.values()] + [(row, False) for row in self.config_models]
        wanted = query.get("litellm_model_id", [None])[0]
        if wanted is not None:
            rows = [(row, db_model) for row, db_model in rows if row["model_info"]["id"] == wanted]
        listed = [self._listed(row, db_model) for row, db_model in rows]
        if wanted is not None:
            if not listed:
                raise Reply(400, {"detail": {"error": f"Model id = {wanted} not found on litellm proxy"}})
        return {"data": listed}

    def model_new(self, query, raw):
        data = parse_body(Deployment, raw)
        if not self.db_connected:
            raise proxy_exception(500, {"error": "No DB Connected. Here's how to do it - https://docs.litellm.ai/docs/proxy/virtual_keys"})
        model_id = data.model_info.id
        if model_id in self.models:  # the primary key refuses it; LiteLLM reports it like this
            raise proxy_exception(500, {"error": "Failed to add model to db. Check your server logs for more details."}, "auth_error", "None")
        now = self._next_time()
        row = {"model_id": model_id, "model_name": data.model_name,
               "litellm_params": json.loads(json.dumps(data.litellm_params.model_dump(exclude_none=True), default=str)),
               "model_info": json.loads(json.dumps(data.model_info.model_dump(exclude_none=True), default=str)),
               "blocked": False, "created_at": now, "updated_at": now}
        self.models[model_id] = row
        # The real answer carries the stored params encrypted; these stand in for the ciphertext.
        sealed = {k: hashlib.sha256(v.encode()).hexdigest()[:32] if isinstance(v, str) else v for k, v in row["litellm_params"].items()}
        return json.loads(json.dumps({**row, "litellm_params": sealed}, default=str))

    def model_patch(self, model_id, raw):
        data = parse_body(updateDeployment, raw)
        body = json.loads(raw)
        if isinstance(body.get("model_info"), dict) and body["model_info"].get("id") != model_id:
            raise validation_error([{"type": "missing", "loc": ("model_info", "id"),
                                     "msg": "give the model's own id: LiteLLM's ModelInfo would store a random one"}])
        if not self.db_connected:
            raise proxy_exception(500, {"error": DB_NOT_CONNECTED})
        row = self.models.get(model_id)
        if row is None:
            if any(m["model_info"]["id"] == model_id for m in self.config_models):
                raise proxy_exception(400, "Cannot edit config-based model. Store model in DB via /model/new first.", "validation_error")
            raise proxy_exception(404, f"Model {model_id} not found on proxy.", "not_found_error")
        if data.model_name:
            row["model_name"] = data.model_name
        if data.litellm_params is not None:  # merged: a param can be set, not removed
            row["litellm_params"].update(json.loads(json.dumps(data.litellm_params.model_dump(exclude_none=True), default=str)))
        if data.model_info is not None:
            row["model_info"].update(json.loads(json.dumps(data.model_info.model_dump(exclude_none=True), default=str)))
        row["updated_at"] = self._next_time()
        return {"model_id": model_id, "model_name": row["model_name"]}

    def model_delete(self, query, raw):
        data = parse_body(ModelInfoDelete, raw)
        if not self.db_connected:
            raise proxy_exception(500, {"error": "No DB Connected. Here's how to do it - https://docs.litellm.ai/docs/proxy/virtual_keys"})
        if data.id not in self.models:
            raise proxy_exception(400, {"error": f"Model with id={data.id} not found in db"}, "auth_error", "None")
        del self.models[data.id]
        return {"message": f"Model: {data.id} deleted successfully"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen() backlog: bulk runs open many connections at once


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    admin: FakeAdmin

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        admin = self.admin
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        authorized = self.headers.get("Authorization") == f"Bearer {admin.master_key}"
        with admin._lock:
            admin.requests.append(Seen(method, parts.path, query, body, authorized))
        if admin.latency:
            time.sleep(admin.latency)
        fault = admin._take_fault(parts.path, body)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return
        if fault is not None and fault.kind in ("503", "500"):
            self._send(int(fault.kind), {"error": {"message": f"injected {fault.kind}", "code": fault.kind}})
            return
        try:
            if not authorized:
                raise self._auth_error()
            with admin._lock:
                status, answer = 200, admin.route(method, parts.path, query, raw)
        except Reply as reply:
            status, answer = reply.status, reply.body
        if fault is not None and fault.kind == "drop_after":
            self.close_connection = True
            return
        self._send(status, answer)

    def _auth_error(self) -> Reply:
        header = self.headers.get("Authorization")
        if not header:
            return proxy_exception(401, "Authentication Error, No api key passed in.", "auth_error", "None")
        token = header.removeprefix("Bearer ").strip()
        return proxy_exception(
            401,
            f"Authentication Error, Invalid proxy server token passed. key={hash_token_if_needed(token)}, not found in db. Create key via `/key/generate` call.",
            "auth_error",
            "None",
        )

    def _send(self, status: int, body) -> None:
        payload = body.encode() if isinstance(body, Rendered) else json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
