"""`whowhywhen` command line: serve the product, migrate, and bootstrap users, projects, keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen import __version__
from whowhywhen.config import get_settings
from whowhywhen.db import Database
from whowhywhen.exceptions import AppError
from whowhywhen.logging import configure_logging
from whowhywhen.migrations import upgrade

app = typer.Typer(
    help="WhoWhyWhen: self-hosted API analytics and monitoring.",
    no_args_is_help=True,
    add_completion=False,
)
T = TypeVar("T")

Host = Annotated[str, typer.Option(help="Address to bind")]
NoMigrate = Annotated[
    bool, typer.Option("--no-migrate", help="Do not migrate the database on start")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version")
    ] = False,
) -> None:
    """WhoWhyWhen command line."""


def _run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def runner() -> T:
        db = Database(get_settings())
        try:
            async with db.session() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await db.dispose()

    try:
        return asyncio.run(runner())
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(code=1) from exc


def _servers(host: str, ports: list[int], mode_name: str) -> None:
    from whowhywhen.app import Mode, create_app

    configure_logging()
    application = create_app(mode=Mode(mode_name), server_process=True)
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                application,
                host=host,
                port=port,
                lifespan="on" if index == 0 else "off",
                timeout_graceful_shutdown=10,
                timeout_keep_alive=5,
                forwarded_allow_ips=get_settings().trusted_proxies,
                proxy_headers=True,
                log_config=None,
                log_level="info",
                server_header=False,
            )
        )
        for index, port in enumerate(ports)
    ]

    async def run_all() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(run_all())


def _prepare(no_migrate: bool) -> None:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not no_migrate:
        upgrade()


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Dashboard, API and collector port")] = 8000,
    collector_port: Annotated[
        int, typer.Option(help="Extra port answering the collector routes (0 = off)")
    ] = 8001,
    no_migrate: NoMigrate = False,
) -> None:
    """Run everything in one process: dashboard, API and collector (embedded mode)."""
    _prepare(no_migrate)
    typer.echo(f"WhoWhyWhen {__version__} on http://{host}:{port}")
    typer.echo(
        f"First time? Sign up at http://{host}:{port}/ or run "
        "`whowhywhen create-user --email you@example.com`."
    )
    ports = [port] + ([collector_port] if collector_port else [])
    _servers(host, ports, "all")


@app.command()
def dashboard(host: Host = "127.0.0.1", port: int = 8000, no_migrate: NoMigrate = False) -> None:
    """Run the dashboard and its API only (scale-out mode)."""
    _prepare(no_migrate)
    _servers(host, [port], "dashboard")


@app.command()
def collector(host: Host = "127.0.0.1", port: int = 8001, no_migrate: NoMigrate = False) -> None:
    """Run the collector only; start as many as you need behind a load balancer."""
    _prepare(no_migrate)
    _servers(host, [port], "collector")


def _celery(role: str, extra: list[str]) -> None:
    from whowhywhen.worker.celery_app import create_celery

    settings = get_settings()
    if not settings.redis_url:
        typer.echo(
            f"error: `whowhywhen {role}` needs REDIS_URL; without it `whowhywhen serve` runs "
            "background tasks in process",
            err=True,
        )
        raise typer.Exit(code=2)
    configure_logging()
    try:
        celery_app = create_celery(settings)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    celery_app.start([role, "--loglevel", "INFO", *extra])


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes")] = 2,
) -> None:
    """Run background tasks from Redis (scale-out mode; needs REDIS_URL and the celery extra)."""
    _celery("worker", ["--concurrency", str(concurrency)])


@app.command()
def beat() -> None:
    """Schedule the periodic tasks (compaction, retention) on Redis; run exactly one."""
    _celery("beat", [])


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    _prepare(no_migrate=False)
    typer.echo("database is up to date")


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="Sign-in email")],
    password: Annotated[
        str, typer.Option(help="12 to 128 characters", prompt=True, hide_input=True)
    ],
    name: Annotated[str, typer.Option(help="Display name")] = "",
) -> None:
    """Create a user who can sign in to the dashboard."""
    from whowhywhen.auth.service import user_service

    async def work(session: AsyncSession) -> int:
        user = await user_service.create(session, email=email, password=password, name=name)
        assert user.id is not None
        return user.id

    user_id = _run_in_session(work)
    typer.echo(f"created user {user_id} <{email}>")


@app.command("create-project")
def create_project(
    owner: Annotated[str, typer.Option(help="Email of the owning user")],
    name: Annotated[str, typer.Option(help="Project name")],
) -> None:
    """Create a project owned by a user; prints its id."""
    from whowhywhen.auth.service import user_service
    from whowhywhen.exceptions import NotFound
    from whowhywhen.project.service import project_service

    async def work(session: AsyncSession) -> int:
        user = await user_service.get_by_email(session, owner)
        if user is None:
            raise NotFound(f"no user with email {owner}")
        project = await project_service.create(session, owner=user, name=name)
        assert project.id is not None
        return project.id

    typer.echo(_run_in_session(work))


@app.command("create-key")
def create_key(
    project: Annotated[int, typer.Option(help="Project id")],
    name: Annotated[str, typer.Option(help="Key name")] = "Default",
) -> None:
    """Create an ingest API key; the secret is printed once, on the last line."""
    from whowhywhen.api_key.service import api_key_service
    from whowhywhen.project.service import project_service

    async def work(session: AsyncSession) -> str:
        await project_service.get(session, project)
        _key, secret = await api_key_service.create(
            session, project_id=project, name=name, created_by_id=None
        )
        return secret

    secret = _run_in_session(work)
    typer.echo("API key (shown once; store it now):", err=True)
    typer.echo(secret)


@app.command()
def demo(
    project: Annotated[int, typer.Option(help="Project id to fill")],
    days: Annotated[
        int, typer.Option(min=1, max=400, help="Spread events over this many days")
    ] = 30,
    events: Annotated[int, typer.Option(min=1, help="How many events to store")] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same traffic)")] = 1,
    no_migrate: NoMigrate = False,
) -> None:
    """Fill a project with realistic sample traffic through the real collector pipeline."""
    from datetime import timedelta

    from whowhywhen.analytics import demo as sample
    from whowhywhen.analytics.tasks import compact_rollups
    from whowhywhen.api_key.service import KeyPrincipal
    from whowhywhen.ingest.service import IngestService
    from whowhywhen.project.service import project_service

    _prepare(no_migrate)
    settings = get_settings()

    async def run() -> int:
        db = Database(settings)
        try:
            async with db.session() as session:
                found = await project_service.get(session, project)
            service = IngestService(settings, db)
            principal = KeyPrincipal(
                key_id=0, project_id=project, prefix="demo", anonymize_ip=found.anonymize_ip
            )
            stored = 0
            batch: list[dict[str, object]] = []
            for item in sample.generate(events, days=days, seed=seed):
                batch.append(item)
                if len(batch) == 1000:
                    stored += await sample.store(
                        service, principal, batch, max_age=timedelta(days=days + 1)
                    )
                    batch = []
                    if stored % 20_000 == 0:
                        typer.echo(f"  {stored:,} events stored", err=True)
            if batch:
                stored += await sample.store(
                    service, principal, batch, max_age=timedelta(days=days + 1)
                )
            await compact_rollups(db)
            return stored
        finally:
            await db.dispose()

    try:
        stored = asyncio.run(run())
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"stored {stored:,} demo events in project {project} over {days} days")


def main() -> None:
    app(prog_name="whowhywhen")


if __name__ == "__main__":
    main()
