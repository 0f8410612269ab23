"""A fake W&B server for the W&B store tests, and a model of what ART leaves there.

One server and one ``wandb.Api`` serve the whole session (each ``Api`` costs a
login round trip through the SDK's Go helper); the in-memory model is reset for
every test. What the fake assumes about W&B is documented in ``fake_wandb_server``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ckpt_tui.stores.wandb import WandbStore

from art_on_wandb import ENTITY, TIMEOUT, populate
from fake_wandb_server import FakeWandb, FakeWandbServer


@pytest.fixture(scope="session")
def wandb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeWandbServer]:
    """The fake server, and the SDK's environment pointing at it, for the session."""
    server = FakeWandbServer().start()
    home = tmp_path_factory.mktemp("wandb-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WANDB_API_KEY", "k" * 40)
        env.setenv("WANDB_BASE_URL", server.url)
        env.setenv("WANDB__GRAPHQL_RETRY_MAX", "1")
        env.setenv("WANDB_SILENT", "true")
        env.setenv("WANDB_ERROR_REPORTING", "false")  # nothing leaves the machine
        for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
            env.setenv(name, str(home / name.lower()))
        env.setenv("NETRC", str(home / "netrc"))  # never read the developer's own login
        yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_api(wandb_server: FakeWandbServer):
    """One ``wandb.Api`` for the session (built through the store, as the app does)."""
    wandb_server.reset()  # a healthy server, whatever test ran before
    store = WandbStore(ENTITY, timeout=TIMEOUT)
    store.connect()
    return store.api


@pytest.fixture
def fake(wandb_server: FakeWandbServer) -> Iterator[FakeWandb]:
    """A freshly populated model; fails the test if the SDK sent an unknown operation."""
    model = wandb_server.reset()
    populate(model)
    yield model
    model.fault = None
    assert model.unknown == [], f"the SDK sent GraphQL operations the fake does not know: {model.unknown}"


@pytest.fixture
def store(fake: FakeWandb, shared_api) -> WandbStore:
    """``wandb://ent``: every project of the entity."""
    return WandbStore(ENTITY, timeout=TIMEOUT, api=shared_api)
