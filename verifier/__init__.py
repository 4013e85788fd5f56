"""Verification of ebill-ledger invoices: seals against the registry, inclusion proofs against the chain.

Public API: :func:`verify_inclusion_document`, :class:`InclusionVerdict`. Errors are
:class:`ledger.errors.VerificationError` and its subclasses. Beside it: the verdict on a
QR seal (:func:`verifier.verdict.full_verdict`, after :func:`verifier.seal_check.verify_offline`)
and the service that gives it over a live chain (:class:`verifier.service.VerificationService`,
behind ``POST /v1/verify``), whose needs from the outside are the Protocols of
:mod:`verifier.ports`. The verifier imports the domain core only, never an adapter.
"""

from verifier.inclusion import InclusionVerdict, verify_inclusion_document

__all__ = ["InclusionVerdict", "verify_inclusion_document"]
