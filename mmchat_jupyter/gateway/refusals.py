"""The one-line refusals of the gateway's limits, in the caller's language (i18n.set_context_language)."""

from __future__ import annotations

import math

from .._format import format_number
from ..i18n import _
from .limits import Caller, Refusal


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 20 min' ('3 ч 20 мин'), rounded up: a wait is never shorter than said."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 60:
        return _("{seconds} s").format(seconds=seconds)
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return _("{minutes} min").format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if not minutes:
        return _("{hours} h").format(hours=hours)
    return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)


def message(refused: Refusal, caller: Caller) -> str:
    """What the caller is told when a limit refuses a request: which limit, and when to come back."""
    limit, when, group = format_number(refused.value), duration(refused.retry_after), caller.group
    if refused.limit == "tokens_per_day":
        text = _("You have used your daily limit of {limit} tokens on the hub's LLM gateway: it renews in {when}.")
    elif refused.limit == "tokens_per_month":
        text = _("You have used your monthly limit of {limit} tokens on the hub's LLM gateway: it renews in {when}.")
    elif refused.limit == "group_tokens_per_day":
        text = _("Your group {group} has used its daily limit of {limit} tokens on the hub's LLM gateway: it renews "
                 "in {when}.")
    elif refused.limit == "group_tokens_per_month":
        text = _("Your group {group} has used its monthly limit of {limit} tokens on the hub's LLM gateway: it "
                 "renews in {when}.")
    elif refused.limit == "requests_per_minute":
        text = _("You have sent {limit} requests in a minute, your limit on the hub's LLM gateway: retry in {when}.")
    else:
        text = _("You already have {limit} answers streaming, your limit on the hub's LLM gateway: wait for one to "
                 "finish.")
    return text.format(limit=limit, when=when, group=group)
