"""The gateway's Prometheus metrics, in a registry of its own (served at `/metrics`).

Labelled by provider, model and group; by user too only when the administrator asks (`metrics_per_user`): a label per
user multiplies the series by the number of users, and names people in the monitoring system.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: First-token latency is mostly the provider's; buckets from a fast local model to a slow queue.
FIRST_TOKEN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """Counters and histograms of requests, tokens, latency, upstream errors and refusals."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, *, per_user: bool = False) -> None:
        self.per_user = per_user
        self.registry = CollectorRegistry(auto_describe=True)
        who = ("group", "user") if per_user else ("group",)
        call = ("provider", "model", *who)
        registry = self.registry
        self.requests = Counter(
            "mmchat_gateway_requests", "Chat completion requests by outcome (ok, error, cancelled, refused).",
            (*call, "status"), registry=registry,
        )
        self.tokens = Counter(
            "mmchat_gateway_tokens", "Tokens used, by kind (prompt, completion).", (*call, "kind"), registry=registry
        )
        self.first_token = Histogram(
            "mmchat_gateway_first_token_seconds", "From the request to the first token sent to the client.", call,
            buckets=FIRST_TOKEN_BUCKETS, registry=registry,
        )
        self.duration = Histogram(
            "mmchat_gateway_request_duration_seconds", "From the request to the end of the answer.", call,
            buckets=DURATION_BUCKETS, registry=registry,
        )
        self.upstream_errors = Counter(
            "mmchat_gateway_upstream_errors", "Failures of the upstream providers, by error class.",
            ("provider", "model", "error"), registry=registry,
        )
        self.rejections = Counter(
            "mmchat_gateway_rejections", "Requests refused by a limit (tokens_per_day, requests_per_minute, ...).",
            (*who, "limit"), registry=registry,
        )
        self.active = Gauge(
            "mmchat_gateway_active_requests", "Requests being answered now.", ("provider",), registry=registry
        )
        self.ledger_errors = Counter(
            "mmchat_gateway_ledger_errors", "Failed reads or writes of the usage database.", registry=registry
        )

    def who(self, group: str, user: str) -> dict[str, str]:
        return {"group": group, "user": user} if self.per_user else {"group": group}

    def render(self) -> bytes:
        return generate_latest(self.registry)
