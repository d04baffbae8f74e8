"""The review loop's background half: apply recorded GitHub deliveries, then check merged fixes.

It runs inside ``healer serve``. The webhook route records a delivery and wakes it; it also
wakes every ``interval`` seconds, so deliveries recorded before a crash are applied after the
restart and quiet windows end on time without any delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, cast

from fixer.errors import FixerError
from fixer.forge import Forge
from server.common.settings import Settings
from server.config import HealerConfig, RepoConfig
from server.errors import HealerError
from server.review import deployments, reverts
from server.review.deployments import Contains, DeploymentIn, workspace_contains
from server.review.github_webhook import BOT_LOGINS, Translator, process_pending
from server.review.reviews import ForgeActions
from server.review.verification import Moved, load_verification, sweep
from server.store import Store

log = logging.getLogger(__name__)


class ReviewWorker:
    def __init__(
        self,
        store: Store,
        config: HealerConfig,
        settings: Settings,
        *,
        forges: Callable[[RepoConfig], Forge] | None = None,
        interval: float = 5.0,
        contains: Contains | None = None,
    ) -> None:
        from server.fixing.forges import forge_for

        self.store = store
        self.config = config
        self.settings = settings
        self.interval = interval
        self.verification = load_verification(config)
        self.forges = forges or (lambda repo: forge_for(repo, settings, store))
        self.contains = contains or workspace_contains(settings, store)
        self.translator = Translator(config, can_write=self.can_write, bot_logins={*BOT_LOGINS, settings.bot_name})
        self._cache: dict[str, Forge] = {}
        self._wake: asyncio.Event | None = None

    def _forge(self, repo: RepoConfig) -> Forge:
        if repo.name not in self._cache:
            self._cache[repo.name] = self.forges(repo)
        return self._cache[repo.name]

    def forge_for(self, incident_id: str) -> ForgeActions | None:
        """Where to comment and react for an incident's pull request; None when there is nowhere."""
        try:
            incident = self.store.get(incident_id)
            repo = self.config.repos.get(incident.repo or "")
            if repo is None:
                return None
            forge = self._forge(repo)
        except (HealerError, FixerError) as exc:
            log.warning("no forge for %s: %s", incident_id, exc)
            return None
        return cast(ForgeActions, forge) if hasattr(forge, "acknowledge") else None

    def can_write(self, github_repo: str, login: str) -> bool:
        """Write access, asked of GitHub; anything but a clear yes is a no."""
        repo = next((r for r in self.config.repos.values() if r.github_repo == github_repo), None)
        if repo is None:
            return False
        try:
            forge = self._forge(repo)
            check = getattr(forge, "can_write", None)
            return bool(check(login)) if check is not None else False
        except FixerError as exc:
            log.warning("could not check %s's permission on %s: %s", login, github_repo, exc.message)
            return False

    def step(self) -> tuple[int, list[Moved]]:
        """Apply every waiting delivery, then move merged and rejected incidents whose evidence is in."""
        applied = 0
        while True:
            done = process_pending(self.store, self.translator, self.forge_for, deployed=self.deployed)
            applied += done
            if done == 0:
                break
        return applied, sweep(self.store, self.verification, self.forge_for, revert=self.revert)

    def revert(self, incident_id: str, row: Any, why: str) -> None:
        """Propose the revert of a merged fix that regressed (``on_regression = "revert"``)."""
        repo = self.config.repos.get(row.repo or "")
        if repo is None or row.pr_number is None:
            return
        try:
            forge = self._forge(repo)
        except FixerError as exc:
            log.warning("no forge to revert %s: %s", incident_id, exc.message)
            return
        reverts.open_for(
            self.store,
            self.settings,
            repo,
            forge,
            incident_id=incident_id,
            merge_commit=row.merge_commit,
            pr_number=row.pr_number,
            pr_url=row.pr_url or "",
            why=why,
        )

    def deployed(self, report: DeploymentIn, actor: str) -> str:
        """A deployment report from any channel: start the quiet windows of the fixes it contains."""
        return deployments.record(
            self.store, self.config, self.verification, self.contains, report, actor=actor
        ).summary()

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            self._wake.clear()
            try:
                applied, moved = await asyncio.to_thread(self.step)
                for item in moved:
                    log.info("%s -> %s: %s", item.incident_id, item.to.value, item.why)
                if applied:
                    log.debug("applied %d GitHub deliveries", applied)
            except HealerError as exc:
                log.warning("review loop step failed, retrying in %.0fs: %s", self.interval, exc.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
