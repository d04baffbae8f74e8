"""The operators' dashboard: server-rendered pages over the store, live through the timeline feed.

In:      signed-in people's requests (``session``), the store, ``server.observe``'s feed.
Out:     HTML pages; each action calls the same use case as the REST and CLI faces.
Imports: every core package and ``server.api``'s shared state; nothing imports this package
         but ``server.api.app``.
"""
