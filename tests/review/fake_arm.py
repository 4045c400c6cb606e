"""A loopback Resource Manager for the preflight check: the two calls it makes, over TLS.

- ``GET /subscriptions/{id}/providers?api-version=2021-04-01`` (Providers_List): Provider objects
  shaped like the spec's example (recordings/GetProvider.json), split over pages joined by
  ``nextLink`` (x-ms-pageable) so the client must follow them;
- ``GET /subscriptions/{id}/providers/Microsoft.Features/providers/{ns}/features/{name}?api-version=
  2021-07-01`` (Features_Get): a FeatureResult (recordings/listProviderFeatures.json), 404 with an ARM
  error for a feature it does not know.
Every request must carry the bearer token and the api-version of its operation; each is recorded.
"""

import copy
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "runs"))

from fake_aml import FakeCredential, make_certificate  # noqa: E402

RECORDINGS = HERE / "recordings"
TOKEN = "fake-token-for-tests"  # what FakeCredential hands out
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"


def recorded(name: str) -> Dict[str, Any]:
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))["responses"]["200"]["body"]


def provider_object(subscription: str, namespace: str, state: str) -> Dict[str, Any]:
    """The spec example's Provider, for another namespace and state."""
    body = copy.deepcopy(recorded("GetProvider.json"))
    body.update(id=f"/subscriptions/{subscription}/providers/{namespace}", namespace=namespace, registrationState=state)
    return body


def feature_object(subscription: str, namespace: str, feature: str, state: str) -> Dict[str, Any]:
    """The spec example's FeatureResult, with the id and type real answers carry."""
    body = copy.deepcopy(recorded("listProviderFeatures.json")["value"][0])
    body.update(name=f"{namespace}/{feature}", properties={"state": state}, type="Microsoft.Features/providers/features",
                id=f"/subscriptions/{subscription}/providers/Microsoft.Features/providers/{namespace}/features/{feature}")
    return body


class FakeArm:
    def __init__(self, cert_dir: Path, *, providers: Dict[str, str], features: Dict[str, str],
                 subscription: str = SUBSCRIPTION, page_size: int = 3, next_host: Optional[str] = None) -> None:
        self.providers = providers  # namespace -> registrationState
        self.features = features  # "Namespace/Feature" -> state
        self.subscription = subscription
        self.page_size = page_size
        self.next_host = next_host  # answer nextLinks on another host (a hostile answer)
        self.cert_dir = cert_dir
        self.requests: List[Dict[str, Any]] = []
        self.endpoint = ""
        self.ca_file: Optional[Path] = None
        self._server: Optional[ThreadingHTTPServer] = None

    def start(self) -> "FakeArm":
        import ssl

        cert, key = make_certificate(self.cert_dir)
        self.ca_file = cert
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.endpoint = f"https://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="fake-arm", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ---- the two operations

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append({"path": parts.path, "query": query, "auth": h.headers.get("Authorization")})
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(h, 401, {"error": {"code": "InvalidAuthenticationToken", "message": "no token"}})
        prefix = f"/subscriptions/{self.subscription}/providers"
        features = f"{prefix}/Microsoft.Features/providers/"
        if parts.path == prefix:
            if query.get("api-version") != "2021-04-01":
                return self._send(h, 400, {"error": {"code": "InvalidApiVersionParameter", "message": "api-version"}})
            return self._providers_page(h, int(query.get("$skiptoken", "0")))
        if parts.path.startswith(features):
            if query.get("api-version") != "2021-07-01":
                return self._send(h, 400, {"error": {"code": "InvalidApiVersionParameter", "message": "api-version"}})
            namespace, _, feature = parts.path[len(features):].partition("/features/")
            state = self.features.get(f"{namespace}/{feature}")
            if state is None:
                return self._send(h, 404, {"error": {"code": "FeatureNotFound", "message": f"{feature} not found"}})
            return self._send(h, 200, feature_object(self.subscription, namespace, feature, state))
        self._send(h, 404, {"error": {"code": "NotFound", "message": parts.path}})

    def _providers_page(self, h: BaseHTTPRequestHandler, start: int) -> None:
        items = sorted(self.providers.items())
        page = items[start:start + self.page_size]
        body: Dict[str, Any] = {"value": [provider_object(self.subscription, ns, st) for ns, st in page]}
        if start + self.page_size < len(items):
            host = self.next_host or self.endpoint
            body["nextLink"] = (f"{host}/subscriptions/{self.subscription}/providers?api-version=2021-04-01"
                                f"&%24skiptoken={start + self.page_size}")
        self._send(h, 200, body)

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode("utf-8")
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


def client(fake: FakeArm) -> Any:
    """The preflight's real client, aimed at the fake (trusting its certificate, fast retries)."""
    from azure.core.pipeline.transport import RequestsTransport

    from amlplatform.review.preflight import RegistrationClient

    return RegistrationClient(fake.subscription, endpoint=fake.endpoint, credential=FakeCredential(),
                              transport=RequestsTransport(connection_verify=str(fake.ca_file)),
                              retry={"retry_total": 1, "retry_backoff_factor": 0.01, "retry_backoff_max": 0.05})
