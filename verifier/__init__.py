"""Verification of ebill-ledger invoices: inclusion proofs against the chain.

Public API: :func:`verify_inclusion_document`, :class:`InclusionVerdict`. Errors are
:class:`ledger.errors.VerificationError` and its subclasses.
"""

from verifier.inclusion import InclusionVerdict, verify_inclusion_document

__all__ = ["InclusionVerdict", "verify_inclusion_document"]
