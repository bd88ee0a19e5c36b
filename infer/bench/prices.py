"""Lambda's prices: the one table `infer bench --function` and `infer tune` compute costs from.

Source: https://aws.amazon.com/lambda/pricing/ (on-demand duration, first tier, and requests). The
us-east-1 figures were entered in infer/bench/aws.py on 2026-11-26. The other regions listed are those
that charged the same as us-east-1 when the table was written (from the pricing page as known then, not
fetched from this machine, which has no internet access to it: check before relying on them); regions
that charge more (af-south-1, ap-east-1, ...) are refused rather than guessed: add a row from the page.
Later tiers (over 6 billion GB-seconds a month) are cheaper and not modelled.
"""

from dataclasses import dataclass

from infer.runtime.contract import ARCHITECTURES

PRICES_SOURCE = "https://aws.amazon.com/lambda/pricing/"
PRICES_DATE = "2026-11-26"  # when the figures were entered; not re-checked since


@dataclass(frozen=True)
class Price:
    per_gb_second: dict[str, float]  # by architecture
    per_request: float

    @property
    def per_million_requests(self) -> float:
        return self.per_request * 1_000_000


STANDARD = Price({"x86_64": 0.0000166667, "arm64": 0.0000133334}, 0.20 / 1_000_000)
PRICES: dict[str, Price] = {region: STANDARD for region in (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2",
    "ap-south-1", "sa-east-1")}
DEFAULT_REGION = "us-east-1"


class PriceError(ValueError):
    """A region or architecture the table has no price for."""


def price(region: str, architecture: str) -> tuple[float, float]:
    """(USD per GB-second, USD per million requests) in `region` on `architecture`; PriceError if unknown."""
    if architecture not in ARCHITECTURES:
        raise PriceError(f"unknown architecture {architecture!r}; use {' or '.join(ARCHITECTURES)}")
    if region not in PRICES:
        raise PriceError(f"no Lambda prices recorded for region {region!r} (infer/bench/prices.py, from "
                         f"{PRICES_SOURCE} on {PRICES_DATE}); known: {', '.join(sorted(PRICES))}")
    entry = PRICES[region]
    return entry.per_gb_second[architecture], entry.per_million_requests


def cost_per_million(billed_ms: float, memory_mb: int, per_gb_second: float, per_million_requests: float) -> float:
    """USD per million requests: 1e6 x (billed_ms / 1000) x (memory_mb / 1024) x price per GB-s + request price."""
    return 1e6 * (billed_ms / 1000.0) * (memory_mb / 1024.0) * per_gb_second + per_million_requests
