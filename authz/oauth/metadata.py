"""Authorization server metadata (RFC 8414 §2), with the PAR (RFC 9126 §5), DPoP
(RFC 9449 §5.1) and issuer-identification (RFC 9207 §3) members."""

from __future__ import annotations

from typing import Any

from authz.oauth.client_auth import ALGORITHMS as ASSERTION_ALGORITHMS
from authz.oauth.dpop import ALGORITHMS as DPOP_ALGORITHMS
from authz.oauth.keys import ALGORITHM
from authz.oauth.server import CLIENT_AUTH_METHODS, CONSENTS_SCOPE, GRANT_TYPES, PRODUCTS_SCOPE
from finance.govdata.categories import CATEGORIES


def server_metadata(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "pushed_authorization_request_endpoint": f"{issuer}/oauth2/par",
        "require_pushed_authorization_requests": True,
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "scopes_supported": [CONSENTS_SCOPE, PRODUCTS_SCOPE, *(c.scope for c in CATEGORIES)],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "authorization_response_iss_parameter_supported": True,
        "access_token_signing_alg_values_supported": [ALGORITHM],
        "resource": issuer + "/api",
    }
