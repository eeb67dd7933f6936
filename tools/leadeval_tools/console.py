"""The operator console's reads: one query per page of jobs, filtered; a lead's document names; known sites.

The queries run on the job store's executor (``store.executor``: SQLite, D1 or PostgreSQL; the SQL is the
dialects' common subset, named parameters as every query of the store), so ``leadeval jobs list`` is one
round trip whatever the page size: each job comes with its evaluation's score, label and recommendation in
the same statement (the job's ``evaluation_id``, the application's column).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from leadeval.adapters.jobstore.sql import Statement
from leadeval.models import Job, JobState, JobStatus
from leadeval.timeutil import format_ts

#: SQL of one page of jobs (see :func:`list_jobs_page`).
LIST_JOBS_SQL = """
SELECT j.*, e.score AS console_score, e.label AS console_label, e.recommendation AS console_recommendation
  FROM ai_evaluation_jobs j LEFT JOIN lead_ai_evaluations e ON e.id = j.evaluation_id
 WHERE (CAST(:status AS text) IS NULL OR j.status = CAST(:status AS text))
   AND (CAST(:state AS text) IS NULL OR (CASE
         WHEN j.status = 'pending' AND j.leadeval_state IN ('queued', 'retrying', 'snoozed') THEN j.leadeval_state
         WHEN j.status = 'failed' AND j.leadeval_state IN ('dead_lettered', 'cancelled') THEN j.leadeval_state
         ELSE j.status END) = CAST(:state AS text))
   AND (CAST(:site AS text) IS NULL OR j.site_id = CAST(:site AS text))
   AND (CAST(:error_code AS text) IS NULL OR j.error_code = CAST(:error_code AS text))
   AND (CAST(:since AS text) IS NULL OR COALESCE(j.leadeval_requested_at, j.requested_at) >= CAST(:since AS text))
   AND (CAST(:until AS text) IS NULL OR COALESCE(j.leadeval_requested_at, j.requested_at) < CAST(:until AS text))
 ORDER BY COALESCE(j.leadeval_requested_at, j.requested_at) DESC, j.id DESC
 LIMIT :limit
"""

LEAD_DOCUMENTS_SQL = "SELECT id, storage_key FROM lead_documents WHERE lead_id = :lead_id"

KNOWN_SITE_SQL = """
SELECT 1 AS known FROM ai_evaluation_usage WHERE site_id = :site
UNION ALL SELECT 1 FROM leads WHERE site_id = :site
UNION ALL SELECT 1 FROM ai_evaluation_jobs WHERE site_id = :site
UNION ALL SELECT 1 FROM leadeval_site_policies WHERE site_id = :site
LIMIT 1
"""


@dataclass(frozen=True)
class JobFilter:
    """What ``jobs list|retry|cancel`` select: every given field must match.

    Attributes:
        status: the application's ``status`` (pending, processing, completed, failed).
        state: the lifecycle state (``JobState``: pending, queued, retrying, snoozed, processing, completed,
            failed, dead_lettered, cancelled).
        site: a site id; error_code: the job's ``error_code`` (e.g. ``ModelUnavailable``).
        since / until: requested at or after ``since`` and before ``until`` (aware UTC; compared with
            leadeval's canonical copy of ``requested_at`` once a sweep has seen the job).
    """

    status: JobStatus | None = None
    state: JobState | None = None
    site: str | None = None
    error_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def empty(self) -> bool:
        """True when nothing is filtered (every job)."""
        return all(v is None for v in (self.status, self.state, self.site, self.error_code, self.since, self.until))

    def describe(self) -> str:
        """The filter in words, for messages."""
        parts = [f"{name} {value}" for name, value in (("status", self.status), ("state", self.state),
                                                       ("site", self.site),
                                                       ("error code", self.error_code)) if value is not None]
        parts += [f"{name} {format_ts(value)}" for name, value in (("since", self.since), ("until", self.until))
                  if value is not None]
        return ", ".join(parts) or "every job"


@dataclass(frozen=True)
class JobRow:
    """A job and its evaluation's headline (None when it has none)."""

    job: Job
    score: int | None
    label: str | None
    recommendation: str | None


def parse_when(text: str) -> datetime:
    """A ``--since``/``--until`` value: ``YYYY-MM-DD``, an ISO 8601 timestamp (UTC when it has no offset),
    or a duration back from now (``90m``, ``6h``, ``2d``).

    Raises:
        ValueError: none of these.
    """
    from datetime import timedelta

    from leadeval.timeutil import utcnow

    match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", text)
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return utcnow() - timedelta(**{unit: int(match.group(1))})
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time(), UTC)
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("expected YYYY-MM-DD, an ISO 8601 time or a duration such as 6h, 2d") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def list_jobs_page(store: Any, where: JobFilter, *, limit: int) -> list[JobRow]:
    """One page of jobs matching ``where``, newest request first, in ONE statement (the evaluation joined).

    Args:
        store: a SQL job store (``store.executor``).
        limit: most rows (>= 1).
    """
    params = {"status": str(where.status) if where.status else None,
              "state": str(where.state) if where.state else None, "site": where.site,
              "error_code": where.error_code, "since": format_ts(where.since), "until": format_ts(where.until),
              "limit": int(limit)}
    rows = store.executor.execute_batch([Statement("console_list_jobs", LIST_JOBS_SQL, params)])[0]
    page = []
    for row in rows:
        data = dict(row)
        score, label, recommendation = (data.pop(f"console_{k}", None)
                                        for k in ("score", "label", "recommendation"))
        page.append(JobRow(Job.model_validate(data), None if score is None else int(score), label, recommendation))
    return page


def document_names(store: Any, lead_id: str) -> dict[str, str]:
    """``{document id: file name}`` of a lead's documents (the file name is the storage key's last part, as
    the application stores uploads)."""
    rows = store.executor.execute_batch([Statement("console_lead_documents", LEAD_DOCUMENTS_SQL,
                                                   {"lead_id": lead_id})])[0]
    return {str(r["id"]): str(r["storage_key"]).rsplit("/", 1)[-1] for r in rows if r.get("storage_key")}


def site_known(store: Any, site: str) -> bool:
    """True when any row (usage, lead, job, saved policy) names the site."""
    rows = store.executor.execute_batch([Statement("console_known_site", KNOWN_SITE_SQL, {"site": site})])[0]
    return bool(rows)


def name_documents(text: str, names: Mapping[str, str]) -> str:
    """``text`` with each document id replaced by its file name (``doc_kj-lwpgAaSjO`` -> ``paystub_2026-11-15.pdf``)
    where a person reads it; ids of other leads are left as they are. Longest ids first, so no id is replaced
    inside another."""
    for doc_id in sorted(names, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(doc_id)}(?![\w-])", names[doc_id], text)
    return text


def ids(rows: Iterable[JobRow]) -> list[str]:
    """The job ids of rows, in order."""
    return [row.job.id for row in rows]


# ------------------------------------------------------------------------------------------------ usage

USAGE_SQL = """
SELECT x.model AS model, COUNT(*) AS evaluations, SUM(x.prompt_tokens) AS prompt_tokens,
       SUM(x.completion_tokens) AS completion_tokens, SUM(x.pages) AS pages,
       SUM(COALESCE(x.worker_ms, 0)) AS worker_ms,
       SUM(CASE WHEN x.worker_ms IS NULL THEN 1 ELSE 0 END) AS unmeasured
  FROM leadeval_evaluations x
 WHERE x.site_id = :site AND substr(x.created_at, 1, 7) = :month
 GROUP BY x.model
 ORDER BY x.model
"""

APPLICATION_USAGE_SQL = """
SELECT evaluation_count, quota_limit FROM ai_evaluation_usage WHERE site_id = :site AND month = :month
"""

#: Workers AI neurons per million input / output tokens, by model id (Cloudflare Workers AI pricing page:
#: llama-3.2-11b-vision-instruct, $0.049 / M input and $0.68 / M output tokens at $0.011 per 1,000 neurons).
#: The API reports tokens, not neurons, so neurons are estimated from the tokens.
NEURONS_PER_MILLION_TOKENS = {"@cf/meta/llama-3.2-11b-vision-instruct": (4410, 61493)}


@dataclass(frozen=True)
class ModelUsageRow:
    """One model's share of a site's month: evaluations, tokens, pages, worker milliseconds (summed), how many
    evaluations had no worker time recorded (older than migration 0006), and the estimated Workers AI neurons
    (None for models without a published rate)."""

    model: str
    evaluations: int
    prompt_tokens: int
    completion_tokens: int
    pages: int
    worker_ms: int
    unmeasured: int
    neurons: float | None


def estimated_neurons(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Neurons a Workers AI model bills for these tokens (:data:`NEURONS_PER_MILLION_TOKENS`); None when the
    model has no known rate (offline, OpenAI-compatible servers)."""
    model_id = model.split(":", 1)[1] if model.startswith("workers-ai:") else model
    rate = NEURONS_PER_MILLION_TOKENS.get(model_id)
    if rate is None:
        return None
    return (prompt_tokens * rate[0] + completion_tokens * rate[1]) / 1_000_000


def site_usage(store: Any, site: str, month: str) -> tuple[list[ModelUsageRow], dict[str, int] | None]:
    """A site's evaluations saved in ``month`` (``YYYY-MM``, UTC) summed per model, and the application's usage
    row for the month (``evaluation_count``, ``quota_limit``; None when it has none). One round trip."""
    params = {"site": site, "month": month}
    rows, app_rows = store.executor.execute_batch([Statement("console_usage", USAGE_SQL, params),
                                                   Statement("console_app_usage", APPLICATION_USAGE_SQL, params)])
    result = []
    for r in rows:
        prompt, completion = int(r["prompt_tokens"] or 0), int(r["completion_tokens"] or 0)
        result.append(ModelUsageRow(model=str(r["model"]), evaluations=int(r["evaluations"]), prompt_tokens=prompt,
                                    completion_tokens=completion, pages=int(r["pages"] or 0),
                                    worker_ms=int(r["worker_ms"] or 0), unmeasured=int(r["unmeasured"] or 0),
                                    neurons=estimated_neurons(str(r["model"]), prompt, completion)))
    app = {k: int(app_rows[0][k]) for k in ("evaluation_count", "quota_limit")} if app_rows else None
    return result, app
