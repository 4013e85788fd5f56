"""Development tools: what tests, benchmarks, demos and a development data directory use, and no
deployment needs.

``synth`` generates realistic synthetic invoices (deterministic per seed), ``gen`` writes
them as upload files (``ebill gen``), ``demo`` runs the foundation end to end on one
chain (``ebill demo``), ``failpoints`` crashes a process at named points for the
crash-safety tests, and ``vouchers`` keeps the development e-voucher issuer's key.
"""
