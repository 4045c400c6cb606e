"""The ARM pipeline the Azure backend talks through: azure-core policies, no hand-written retry loops.

- ``RetryPolicy`` (bounded; honours ``Retry-After``; retries 408/429/500/502/503/504 and connection
  errors; a read error after the request was sent is retried for idempotent methods only — every
  PUT of the REST sequence is idempotent because names are chosen on the client);
- ``BearerTokenCredentialPolicy`` for ``https://management.azure.com/.default`` (or another scope:
  run history uses ``https://ml.azure.com/.default``; it refuses plain
  http, so tests run their fake workspace over TLS instead of weakening this);
- user agent ``amlplatform/<version>``, request ids, and azure-core's logging policies.

Every failure becomes a ``UserError`` that names the call (and, for bad answers, the field), so
the CLI prints one readable line and never a traceback.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

from azure.core import PipelineClient
from azure.core.exceptions import AzureError, ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    CustomHookPolicy,
    DistributedTracingPolicy,
    HeadersPolicy,
    HttpLoggingPolicy,
    NetworkTraceLoggingPolicy,
    ProxyPolicy,
    RequestIdPolicy,
    RetryPolicy,
    UserAgentPolicy,
)
from azure.core.rest import HttpRequest

from amlplatform.errors import UserError

ARM_SCOPE = "https://management.azure.com/.default"
DEFAULT_ENDPOINT = "https://management.azure.com"

# Bounded: at most 6 retries of one call (5 for error statuses such as 429), waits doubling from 0.8 s, never above 60 s unless the
# server asks for more with Retry-After (which azure-core honours).
DEFAULT_RETRY = {"retry_total": 6, "retry_status": 5, "retry_backoff_factor": 0.8, "retry_backoff_max": 60}


@dataclass
class Answer:
    """One HTTP answer: the status, the decoded JSON body (``None`` when empty) and the headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


def _version() -> str:
    try:
        from amlplatform import __version__

        return __version__
    except Exception:  # pragma: no cover - the package always has one
        return "0"


def _default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class _LazyCredential:
    """Creates ``DefaultAzureCredential`` on the first token request, not when the client is built
    (``--dry-run`` and argument errors never touch azure-identity)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._credential: Any = None

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        if self._credential is None:
            self._credential = self._factory()
        return self._credential.get_token(*scopes, **kwargs)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        if self._credential is None:
            self._credential = self._factory()
        if hasattr(self._credential, "get_token_info"):
            return self._credential.get_token_info(*scopes, options=options)
        token = self._credential.get_token(*scopes)
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(token.token, token.expires_on)


class ArmPipeline:
    """A small JSON-over-ARM client on azure-core's ``PipelineClient``."""

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        api_version: Optional[str],  # None: no api-version parameter (the MLflow REST API takes none)
        credential: Any = None,
        transport: Any = None,
        retry: Optional[Mapping[str, Any]] = None,
        logging_enable: bool = False,
        scope: str = ARM_SCOPE,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.scope = scope
        if not self.endpoint.lower().startswith("https://"):
            # the bearer token must never travel in clear text (BearerTokenCredentialPolicy agrees)
            raise UserError(f"endpoint must be an https:// URL, got {endpoint!r}")
        self.api_version = api_version
        credential = credential if credential is not None else _LazyCredential(_default_credential)
        retry_kwargs = {**DEFAULT_RETRY, **(retry or {})}
        policies = [
            RequestIdPolicy(),
            HeadersPolicy(),
            UserAgentPolicy(sdk_moniker=f"amlplatform/{_version()}", user_agent_use_env=True),
            ProxyPolicy(),
            RetryPolicy(**retry_kwargs),
            BearerTokenCredentialPolicy(credential, scope),
            CustomHookPolicy(),
            NetworkTraceLoggingPolicy(logging_enable=logging_enable),
            DistributedTracingPolicy(),
            HttpLoggingPolicy(),
        ]
        self._client = PipelineClient(base_url=self.endpoint, policies=policies, transport=transport)

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Optional[Mapping[str, str]] = None,
        ok: Iterable[int] = (200,),
        retry_post: bool = False,
    ) -> Answer:
        """Send one request (retries are the pipeline's) and return the answer if its status is in ``ok``.

        ``what`` names the call in error messages ("look up code by hash"). A POST is retried only
        when ``retry_post`` says it is safe (``startPendingUpload`` and ``cancel`` are create-or-get
        and idempotent); azure-core retries PUT/GET/DELETE on its own.
        """
        query = {**({"api-version": self.api_version} if self.api_version else {}), **(params or {})}
        request = HttpRequest(
            method,
            self.endpoint + path,
            params=query,
            json=body if body is not None else None,
            headers={"Accept": "application/json"},
        )
        options: dict[str, Any] = {}
        if retry_post:
            options["retry_on_methods"] = frozenset(["HEAD", "GET", "PUT", "DELETE", "POST"])
        label = f"{what} ({method} {path})"
        try:
            response = self._client.send_request(request, **options)
            response.read()
        except ClientAuthenticationError as exc:
            raise UserError(
                f"{what}: could not get an Azure access token for {self.scope}: {_first_line(exc)}\n"
                "  sign in with 'az login' (or set AZURE_CLIENT_ID/AZURE_TENANT_ID/... for a service principal)"
            ) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise UserError(f"{label}: no answer from {self.endpoint} after retries: {_first_line(exc)}") from None
        except AzureError as exc:
            raise UserError(f"{label} failed: {_first_line(exc)}") from None
        status = response.status_code
        decoded = _decode(response.text() if response.content else "", label, status)
        if status not in tuple(ok):
            raise ServerError(label, status, decoded, response.headers.get("x-ms-request-id"))
        return Answer(status, decoded, dict(response.headers))


class ServerError(UserError):
    """The service answered with a status the call does not accept (4xx/5xx after retries)."""

    def __init__(self, label: str, status: int, body: Any, request_id: Optional[str] = None) -> None:
        self.status = status
        self.body = body
        self.code, message = _arm_error(body)
        hint = _HINTS.get(status, "")
        text = f"{label}: the service answered {status}"
        if self.code or message:
            text += f" {self.code or ''}: {message or ''}".rstrip(": ")
        if request_id:
            text += f" (request id {request_id})"
        if hint:
            text += f"\n  {hint}"
        super().__init__(text)


_HINTS = {
    401: "the access token was refused: sign in again ('az login') to the workspace's tenant",
    403: "you are not allowed to do this in the workspace: ask for the 'AzureML Data Scientist' role on it",
    404: "not found: check the workspace coordinates (stack outputs) and the names in the run spec",
}


def _arm_error(body: Any) -> tuple[Optional[str], Optional[str]]:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        err = body["error"]
        return (str(err.get("code")) if err.get("code") else None, str(err.get("message")) if err.get("message") else None)
    if isinstance(body, str) and body.strip():
        return None, body.strip()[:200]
    return None, None


def _decode(text: str, label: str, status: int) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        if 200 <= status < 300:
            raise UserError(f"{label}: the service answered {status} with a body that is not JSON: {text[:120]!r}") from None
        return text  # an error page: shown as the message


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def need(body: Any, dotted: str, label: str, kind: type = str) -> Any:
    """Read ``a.b.c`` from an answer or fail with an error naming the call and the missing field."""
    node = body
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or node.get(part) is None:
            raise UserError(f"{label}: the service's answer has no '{dotted}'; cannot continue")
        node = node[part]
    if not isinstance(node, kind) or (kind is str and not node):
        raise UserError(f"{label}: the service's answer has a bad '{dotted}': {node!r}")
    return node
