"""The REST face: a FastAPI app over the core; one routes module per resource.

In:      HTTP requests, behind the guards (``browser``: Host, Origin and content type; ``guards``:
         body size and bearer token) and the error table (``errors``).
Out:     JSON answers; each route calls one use-case function of the core.
Imports: every core package; nothing imports this package but ``server.commands`` and ``server.dashboard``.
"""
