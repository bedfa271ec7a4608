"""Expiry warnings: the leaf expires within the profile's warning windows (default 60 and 30 days)."""

from __future__ import annotations

from datetime import timedelta

from scanner.checks.model import Catalogue, Context, Outcome, Runner

_CATALOGUE = Catalogue()
define = _CATALOGUE.define


def _window(check_id: str, position: int) -> Runner:
    """Fails when the leaf expires within window ``position`` but not within the next, tighter one."""
    passed, inapplicable = Outcome(check_id, "pass", 0), Outcome(check_id, "not-applicable", 0)  # shared: immutable

    def run(ctx: Context) -> list[Outcome]:
        windows = sorted(ctx.profile.expiry_warning_days, reverse=True)
        leaf = ctx.leaf
        if leaf.cert is None or position >= len(windows) or ctx.at > leaf.not_after:
            return [inapplicable]
        left = leaf.not_after - ctx.at
        tighter = windows[position + 1] if position + 1 < len(windows) else None
        inside = left <= timedelta(days=windows[position])
        if inside and (tighter is None or left > timedelta(days=tighter)):
            return [Outcome(check_id, "fail", 0,
                            f"expires {leaf.not_after:%Y-%m-%d} ({left.days} days left; warning window {windows[position]} days)")]
        return [passed]
    return run


ADVICE = "Request and install a renewed certificate before it expires (DCCKI RAPP: submit a new CSR)."
define("expiry.within_60_days", "Certificate expires within the first warning window (default 60 days)", "notice",
       "common PKI practice", "dccscan profile setting expiry_warning_days[0]", ADVICE, _window("expiry.within_60_days", 0))
define("expiry.within_30_days", "Certificate expires within the second warning window (default 30 days)", "warning",
       "common PKI practice", "dccscan profile setting expiry_warning_days[1]", ADVICE, _window("expiry.within_30_days", 1))

CHECKS = _CATALOGUE.freeze()
