"""Security headers on every response, set in one ``after_request`` hook.

The Content Security Policy is the one that matters most. The pages load their
scripts and styles from this origin only and have no inline script, no inline
event handler and no inline style (``tests/test_headers.py`` checks the templates;
``tests/test_csp_browser.py`` visits every page and fails on any violation), so
the policy can refuse everything else: an injected ``<script>`` or ``onerror=``
does not run even if escaping ever failed. ``frame-ancestors 'none'`` (and the
older ``X-Frame-Options``) stops clickjacking; ``connect-src 'self'`` covers the
socket (CSP 3 lets 'self' match ws:/wss: of the same host).

A response that brings its own policy keeps it (the generated SVG avatars have a
stricter one). HSTS is sent only when ``SECURITY_HSTS`` is on (production): over
plain HTTP in development it would be ignored at best, and at worst pin a browser
to HTTPS for a host that has none.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # data: for the empty favicon (<link rel="icon" href="data:,">).
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Full URLs stay on this site (Flask-WTF's HTTPS referrer check needs them);
    # other sites get nothing, so room ids in URLs do not leak through links.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def init_app(app: Flask) -> None:
    hsts = None
    if app.config.get("SECURITY_HSTS"):
        hsts = f"max-age={int(app.config['SECURITY_HSTS_MAX_AGE'])}; includeSubDomains"

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", hsts)
        return response
