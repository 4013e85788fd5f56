"""A Hyperledger Besu QBFT network for the ledger, as files: the kit ``ebill chain besu-kit`` writes.

One module per concern: :mod:`.spec` (the options and the nodes), :mod:`.keys` (node keys,
enode URLs, 0600 files), :mod:`.extradata` (QBFT's genesis ``extraData``), :mod:`.pki` (the
RPC's TLS certificates and JSON Web Tokens), :mod:`.render` (genesis, node configuration,
allow-lists, compose file), :mod:`.kit` (writing a kit, renewing tokens and certificates)
and :mod:`.check` (verifying a kit statically: Besu does not run where the tests run).
The operator's side is ``deploy/besu/README.md`` and ``docs/besu-runbook.md``.
"""
