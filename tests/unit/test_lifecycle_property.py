"""Property: whatever the interleaving of sweeps, workers, crashes, duplicate deliveries, provider trouble,
operator actions and time, the job lifecycle loses nothing and does nothing twice.

A hypothesis state machine drives :class:`tests.lifecycle_rig.LifecycleRig` (the real sweep and worker handlers,
Powertools batch processing and idempotency, a SQLite job store on a temporary file, a MemoryQueue with DLQ and
redrive policy, all on one virtual clock) over 3–6 jobs with an attempt limit of 1–3. Rules: sweep; a worker
invocation on a batch (records not reported failed are deleted, as the event source mapping does); a worker
that claims and is killed before or after its AI call (nothing settled, nothing deleted); a duplicate of a
job's message; provider trouble per job (429s, 5xx, a 4xx refusal, a 5xx outage with no end); malformed
messages; ``jobs cancel``; ``jobs retry``; ``dlq redrive`` (of one job or all); and the clock moving on.

Checked after every step: at most one evaluation per job and only for completed jobs; a job queued or
processing always has a lease (so a rescue can find it); attempts never exceed the limit; the model answered a
job exactly once if it completed (plus once per worker killed between its AI call and its write), otherwise
only for such killed workers; a dead-lettered job restarts only when an operator redrove one of its messages.

Checked after draining (time moved past every lease, backoff, visibility timeout and rescue horizon, sweeping
and working until quiet): every job is terminal and the jobs queue is empty; every DLQ message is a poison
body we injected (each exactly once), a message of a dead-lettered job of its generation, or moot — and
redriving every moot message changes nothing (no AI call, no database change); every dead-lettered job has a
message in the DLQ; and a redrive of the rest with the provider healthy completes each of those jobs once.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from leadeval.models import JobMessage, JobState, JobStatus
from tests.lifecycle_rig import REJECTED, SITE, THROTTLE, UNAVAILABLE, LifecycleRig, doc_id

pytestmark = pytest.mark.slow  # about 15-25 s on 2 cores (60 examples of up to 50 steps, each drained)

MAX_ATTEMPTS = 3
POISON = {
    "not_json": "this is {not json",
    "no_job_id": json.dumps({"site_id": SITE, "lead_id": "lead_x", "generation": 1}),
    "unknown_job": json.dumps({"job_id": "job_nobody", "site_id": SITE, "lead_id": "lead_x", "generation": 1}),
}
TROUBLE = st.lists(st.sampled_from([THROTTLE, THROTTLE, UNAVAILABLE, UNAVAILABLE, REJECTED]), max_size=4)
#: Steps of the virtual clock: nothing, a second, a snooze (retry_after 30 s), a backoff (cap 60 s), a lease
#: (120 s), a visibility timeout (360 s), past the rescue horizon (lease + 600 s) and an hour.
TICKS = st.sampled_from([0, 1, 31, 61, 121, 361, 721, 3600])


class Lifecycle(RuleBasedStateMachine):
    """The rig driven by hypothesis (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="leadeval-property-"))
        self.rig: LifecycleRig | None = None
        self.max_retries = 0
        self.ids: list[str] = []

    # ------------------------------------------------------------------ set-up
    @initialize(count=st.integers(3, 6), max_attempts=st.integers(1, MAX_ATTEMPTS),
                trouble=st.lists(st.one_of(st.just([]), TROUBLE), min_size=6, max_size=6),
                broken=st.sets(st.integers(0, 5), max_size=2))
    def seed(self, count: int, max_attempts: int, trouble: list[list[str]], broken: set[int]) -> None:
        """3–6 jobs, an attempt limit of 1–3, and the trouble each job's first calls meet."""
        self.max_retries = max_attempts
        self.rig = LifecycleRig(self.root, max_retries=max_attempts, lease_seconds=120, rescue_after_seconds=600,
                                retry_base_seconds=10, retry_cap_seconds=60, visibility_timeout=360,
                                max_receive_count=10, retry_after=30)
        logging.getLogger("leadeval").setLevel(logging.CRITICAL)
        self.ids = self.rig.seed([f"j{i}" for i in range(count)])
        for i, job_id in enumerate(self.ids):
            self.rig.model.trouble[doc_id(job_id)] = list(trouble[i])
            if i in broken:
                self.rig.model.broken.add(doc_id(job_id))

    def _job(self, index: int) -> str:
        return self.ids[index % len(self.ids)]

    # ------------------------------------------------------------------ actors
    @rule()
    def sweep(self) -> None:
        self.rig.sweep()

    @rule(batch=st.integers(1, 10), crash=st.sampled_from([None, None, "before_ai", "after_ai"]), seconds=TICKS)
    def worker(self, batch: int, crash: str | None, seconds: int) -> None:
        """A worker invocation on up to ``batch`` visible messages, or one that claims a message's job and is
        killed before or after its AI call; then the clock moves on."""
        if crash is None:
            self.rig.work(batch)
        else:
            self.rig.crash(after_ai=crash == "after_ai")
        self.rig.clock.advance(seconds)

    @rule(index=st.integers(0, 5))
    def duplicate(self, index: int) -> None:
        self.rig.duplicate(self._job(index))

    @rule(index=st.integers(0, 5), trouble=TROUBLE, outage=st.sampled_from([None, "starts", "ends"]))
    def provider(self, index: int, trouble: list[str], outage: str | None) -> None:
        """More trouble for one job's calls, or an outage (5xx for ever) starting or ending for it."""
        document = doc_id(self._job(index))
        self.rig.model.trouble.setdefault(document, []).extend(trouble)
        if outage == "starts":
            self.rig.model.broken.add(document)
        elif outage == "ends":
            self.rig.model.broken.discard(document)

    @rule(kind=st.sampled_from(sorted(POISON)))
    def poison(self, kind: str) -> None:
        self.rig.put_poison(POISON[kind])

    @rule(seconds=TICKS)
    def tick(self, seconds: int) -> None:
        self.rig.clock.advance(seconds)

    # ------------------------------------------------------------------ operators
    @rule(action=st.sampled_from(["cancel", "retry"]), index=st.integers(0, 5))
    def operator(self, action: str, index: int) -> None:
        """``leadeval jobs cancel`` / ``jobs retry`` of a job in a state that allows it when there is one (the
        store refuses any other)."""
        allowed = (JobStatus.PENDING, JobState.QUEUED) if action == "cancel" else (JobStatus.FAILED,)
        candidates = [j.id for j in self.rig.jobs() if j.status in allowed] or self.ids
        job_id = candidates[index % len(candidates)]
        (self.rig.cancel if action == "cancel" else self.rig.retry)(job_id)

    @precondition(lambda self: self.rig is not None and bool(self.rig.queue.dlq))
    @rule(index=st.one_of(st.none(), st.integers(0, 5)))
    def redrive(self, index: int | None) -> None:
        """``leadeval dlq redrive`` of everything, or of one job that has a message there."""
        self.rig.clock.advance(1)  # an operator acts after the dead-lettering
        in_dlq = sorted({j for j in self.rig.dlq_jobs() if j is not None})
        if index is None or not in_dlq:
            self.rig.redrive()
        else:
            self.rig.redrive({in_dlq[index % len(in_dlq)]})

    # ------------------------------------------------------------------ after every step
    @invariant()
    def one_evaluation_per_completed_job(self) -> None:
        jobs = {j.id: j for j in self.rig.jobs()}
        evaluations = self.rig.evaluations_per_job()
        assert evaluations == Counter({i: 1 for i, j in jobs.items() if j.status == JobStatus.COMPLETED})
        assert all(j.evaluation_id for j in jobs.values() if j.status == JobStatus.COMPLETED)

    @invariant()
    def leases_and_attempts(self) -> None:
        for job in self.rig.jobs():
            assert 0 <= job.attempts <= self.max_retries, job
            if job.state in (JobState.QUEUED, JobStatus.PROCESSING):
                assert job.lease_expires_at is not None, job

    @invariant()
    def model_answers_once_per_completion(self) -> None:
        completed = {j.id for j in self.rig.jobs() if j.status == JobStatus.COMPLETED}
        for job_id in self.ids:
            expected = (job_id in completed) + self.rig.crashed_after_ai[job_id]
            assert self.rig.model.answers[job_id] == expected, (job_id, self.rig.model.answers, expected)

    @invariant()
    def restarts_only_by_redrive(self) -> None:
        for job_id, restarts in self.rig.restarts.items():
            assert restarts <= self.rig.redriven[job_id], (job_id, restarts, self.rig.redriven)

    # ------------------------------------------------------------------ after draining
    def teardown(self) -> None:
        try:
            if self.rig is not None:
                self._check_drained()
        finally:
            if self.rig is not None:
                self.rig.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def _check_drained(self) -> None:
        rig = self.rig
        rig.drain()
        assert rig.active() == [] and rig.queue.messages == {}
        self.one_evaluation_per_completed_job()
        self.model_answers_once_per_completion()
        jobs = {j.id: j for j in rig.jobs()}
        dead = {i for i, j in jobs.items() if j.status == JobStatus.FAILED and j.dead_lettered_at is not None}

        belongs, moot, poison = [], [], []
        for message in rig.queue.dlq:
            job = _job_message(message.body)
            if job is None or job.job_id not in jobs:
                poison.append(message)
            elif job.job_id in dead and job.generation == jobs[job.job_id].generation:
                belongs.append(message)
            else:
                moot.append(message)
        assert Counter(m.body for m in poison) == Counter(rig.poison)
        assert dead == {_job_message(m.body).job_id for m in belongs}  # every dead-lettered job is in the DLQ
        event(f"dead-lettered jobs after draining: {min(len(dead), 2)}{'+' if len(dead) > 2 else ''}")
        event(f"moot DLQ messages: {'yes' if moot else 'no'}")
        event(f"restarted by a redrive during the run: {'yes' if rig.restarts else 'no'}")
        event(f"worker killed between AI call and write: {'yes' if rig.crashed_after_ai else 'no'}")
        event(f"operator retry (generation > 1): {'yes' if any(j.generation > 1 for j in jobs.values()) else 'no'}")

        # Redriving the moot messages changes nothing.
        before = _snapshot(rig)
        calls = Counter(rig.model.calls)
        rig.clock.advance(1)
        for message in moot:
            rig.queue.dlq.remove(message)
            rig.queue.put(message.body)
        rig.drain()
        assert (_snapshot(rig), rig.model.calls) == (before, calls)
        assert sorted(m.message_id for m in rig.queue.dlq) == sorted(m.message_id for m in belongs + poison)

        # With the provider healthy, a redrive completes every dead-lettered job once.
        rig.model.broken.clear()
        rig.model.trouble.clear()
        answers = Counter(rig.model.answers)
        rig.clock.advance(1)
        rig.redrive(dead)
        rig.drain()
        assert {i for i, j in _snapshot(rig).items() if j[0] == "completed"} == {
            i for i, j in before.items() if j[0] == "completed"} | dead
        assert rig.model.answers - answers == Counter({job_id: 1 for job_id in dead})
        assert Counter(m.body for m in rig.queue.dlq) == Counter(rig.poison)
        self.one_evaluation_per_completed_job()


def _job_message(body: str) -> JobMessage | None:
    try:
        return JobMessage.model_validate_json(body)
    except ValueError:
        return None


def _snapshot(rig: LifecycleRig) -> dict[str, tuple]:
    return {j.id: (str(j.status), j.generation, j.attempts, j.evaluation_id, j.error_code, j.dead_lettered_at)
            for j in rig.jobs()}


Lifecycle.TestCase.settings = settings(max_examples=60, stateful_step_count=50, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
TestLifecycle = Lifecycle.TestCase
