"""Proxies from the environment for the HTTP calls that do not go through azure-core.

The ARM calls (``runs.rest``), the run-history log downloads (``runs.azure_logs``) and every
azure-storage-blob call go through azure-core's ``RequestsTransport``, which leaves proxies to
``requests`` with ``trust_env`` on (azure-core ``RequestsTransport(use_env_settings=True)``, the
default): ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` (either case, lower case first) and
``NO_PROXY`` (comma-separated host names, domain suffixes, IP addresses or CIDR ranges, ``*`` for
all). The lean paths that talk urllib3 directly (``runs.blobput``: code uploads and the data
input check; ``runs.materialize``: a plain web address of a ``uri_file`` input) ask this module
for their pool, so they pick the very proxy ``requests`` would pick for the same URL - one rule for
every upload and download, as curl and azure-core apply it.

Docs: https://learn.microsoft.com/azure/developer/python/sdk/azure-sdk-configure-proxy
(Azure SDK for Python: ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` are honoured by default);
https://requests.readthedocs.io/en/latest/user/advanced/#proxies.
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import unquote, urlsplit, urlunsplit


def proxy_for(url: str) -> Optional[str]:
    """The proxy URL ``requests`` (so azure-core) would use for ``url`` given the environment, or
    ``None`` for a direct connection (no proxy set, or the host is in ``NO_PROXY``)."""
    from requests.utils import get_environ_proxies, prepend_scheme_if_needed, select_proxy

    proxy = select_proxy(url, get_environ_proxies(url))
    if not proxy:
        return None
    return prepend_scheme_if_needed(proxy, "http")


def pool_manager(url: str, **kwargs: Any) -> Any:
    """A urllib3 pool for requests to ``url``'s host: a ``ProxyManager`` (CONNECT tunnel for
    https, absolute-URI forwarding for http, as ``requests`` does) when the environment names a
    proxy for it, else a plain ``PoolManager``. ``kwargs`` are the pool's (timeouts, retries, sizes)."""
    import urllib3

    proxy = proxy_for(url)
    if proxy is None:
        return urllib3.PoolManager(**kwargs)
    parts = urlsplit(proxy)
    headers = None
    if parts.username is not None:
        # credentials in the proxy URL become Proxy-Authorization (requests: get_auth_from_url)
        headers = urllib3.make_headers(proxy_basic_auth=f"{unquote(parts.username)}:{unquote(parts.password or '')}")
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1])
    return urllib3.ProxyManager(urlunsplit(parts), proxy_headers=headers, **kwargs)


def describe(url: str) -> str:
    """`` via proxy <host:port>`` (for error messages; never the proxy's credentials) or ``""``."""
    proxy = proxy_for(url)
    if proxy is None:
        return ""
    return f" via proxy {urlsplit(proxy).netloc.rsplit('@', 1)[-1]}"
