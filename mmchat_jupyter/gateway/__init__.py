"""mmchat-gateway: the hub's LLM gateway (issue 18), a JupyterHub service in the package's optional `gateway` extra.

One set of provider keys, held by the gateway; each user identified by their JupyterHub token; limits per user and
hub group; usage per user, group, provider, model and day in a SQL database; Prometheus metrics; an audit line per
request; and an OpenAI-compatible API that mmchat's kernels (and any OpenAI client) call with the user's own token.

    app.py        the `mmchat-gateway` application: configuration (c.MMChatGateway.*), startup, graceful stop
    handlers.py   the HTTP endpoints (tornado) and their URL table
    endpoint.py   what every endpoint shares: the caller checked with JupyterHub, errors as OpenAI error objects
    completions.py  POST v1/chat/completions: admit, relay the answer (SSE or whole), settle
    service.py    per-request bookkeeping: admission, settlement, metrics, audit
    limits.py     limits per user and group, and the admission decision (pure)
    ledger.py     the usage database (SQLAlchemy: SQLite or PostgreSQL)
    upstream.py   the providers behind the gateway, and what their failures become for the client
    wire.py       the OpenAI chat-completions format in and out
    refusals.py   the one-line refusals of the limits, in the caller's language
    metrics.py    Prometheus metrics;  audit.py  the audit log

Nothing on the kernel side imports this package: its dependencies (jupyterhub, tornado, SQLAlchemy,
prometheus_client, psycopg) are needed only where the gateway runs.
"""
