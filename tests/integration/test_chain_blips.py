"""A lost connection to the chain node is not a lost block.

Found by tests/e2e/test_organisations_netns.py: a payer's chain worker whose block read lost
its answer (a reset connection) rebuilt its whole chain index, as if the node had lost the
block ("the chain no longer holds block 5 the index stopped at (head 5)"):
``EventReader.block_hash`` answered None for any failure, and None means "no such block".
On a long chain a rebuild reads every event since the deployment, and each network blip set
one off. And a block's time read for an event (``EventReader._time``) let web3's connection
error out untranslated, past the worker's handling of chain errors, which ended the chain
worker's thread: nothing was anchored again until a restart.

Here the service runs on anvil behind the delaying proxy of tests/netfaults.py, which loses
the answers to chosen requests.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from netfaults import ProxyHub

from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
from ledger.adapters.chains import open_node
from ledger.adapters.events import EventReader
from ledger.adapters.sql.engine import upgrade
from ledger.adapters.sql.store import SqlStore
from ledger.app.chain_worker import ChainWorker
from ledger.composition import ledger_service
from ledger.composition.settings import Settings
from ledger.devtools import synth
from ledger.errors import ChainUnavailable
from ledger.formats.items import SourceItem

pytestmark = pytest.mark.anvil
BLOCK_READ = b"eth_getBlockByNumber"


def test_a_lost_block_read_is_a_chain_error_not_a_lost_block(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    upgrade(settings.db_url)
    with AnvilNode(AnvilConfig(data_dir=tmp_path / "node", port=free_port())) as node, ProxyHub() as hub:
        host, port = node.url.rsplit("/", 1)[-1].split(":")
        rpc = hub.add("rpc", listen="127.0.0.1", target=(host, int(port)))
        session = open_node("anvil", url=rpc.url, home=tmp_path, passphrase=settings.passphrase())
        service = ledger_service(SqlStore.open(settings.db_url), pepper=settings.pepper_bytes(),
                                 passphrase=settings.passphrase())
        try:
            service.bind_chain(session.ledger.chain_id, session.ledger.contract_address)
            worker = ChainWorker(service, session, max_age=timedelta(0))
            ds = synth.generate(seed=19, hospitals=1, invoices=3, fee_lines=9, pepper=settings.pepper_bytes())
            h = ds.hospitals[0]
            _, token = service.register_hospital(institution_id=h.code, name=h.name, region="330100")
            service.upload(service.authenticate(token),
                           [SourceItem(i, "", d) for i, d in enumerate(synth.iter_documents(ds))])
            worker.drain()
            assert worker.tick().errors == []
            anchored = service.store.get_meta("indexer.block")

            # the worker's check that the chain still holds the block its index stopped at loses its answer
            hub.lose_replies("rpc", 1, matching=BLOCK_READ)
            report = worker.tick()
            assert rpc.stats.lost_replies == 1
            assert not report.reindexed, "a lost connection rebuilt the chain index"
            assert report.errors and "cannot read block" in report.errors[0], report.errors
            assert service.store.get_meta("indexer.block") == anchored
            again = worker.tick()                              # the next round finds the chain as it was
            assert again.errors == [] and not again.reindexed

            # reading events, the time of a block loses its answer: a chain error the caller retries
            reader = EventReader(session.ledger)              # (no block times cached yet)
            hub.lose_replies("rpc", 1, matching=BLOCK_READ)
            with pytest.raises(ChainUnavailable, match="cannot read the time of block"):
                reader.read(0, reader.head())
            assert rpc.stats.lost_replies == 2
            assert [e["name"] for e in reader.read(0, reader.head())].count("BatchAnchored") >= 1

        finally:
            service.store.close()
