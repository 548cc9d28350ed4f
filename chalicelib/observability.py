"""Logs and metrics the Powertools way: one JSON ``Logger`` and one ``Metrics`` per container.

Every line is one JSON object on stdout (CloudWatch Logs in AWS, the terminal of ``make run``
locally) carrying the request id as ``correlation_id``. Structured keys, never formatted
strings, and never an email address, token, password or card detail: log ids instead.
Business counts (purchases, declines, usage records, payouts, reconciliation findings) are
CloudWatch metrics in the embedded metric format, flushed at the end of each request or job.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "agency-accounts"
NAMESPACE = "AgencyAccounts"

logger = Logger(service=SERVICE, utc=True)
# Our JSON lines only, once: Lambda's runtime puts a plain-text handler on the root logger.
logging.getLogger(SERVICE).propagate = False
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: int = 1) -> None:
    """Add ``value`` to a business counter of this request or job run."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def flush_metrics() -> None:
    """Emit what was counted (one EMF line), at the end of a request or job run; nothing
    when nothing was counted."""
    if metrics.metric_set:
        metrics.flush_metrics()
